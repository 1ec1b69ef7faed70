import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import { MAX_DEVICE_ROWS, Overview } from '../src/views/Overview';
import { formatAge } from '../src/views/format';
import { env, hello, status } from './fixtures';

const actions = { loadExtension: () => undefined, reconnect: () => undefined };

function render(model: SessionModel | null, now = 1300): string {
  return renderToStaticMarkup(<Overview model={model} now={now} actions={actions} />);
}

describe('Overview', () => {
  it('asks for a notebook when there is none', () => {
    expect(render(null)).toContain('Open a notebook to inspect its kernel');
  });

  it('offers to load jaxinspect when it is not loaded', () => {
    const model = new SessionModel();
    model.setState('not-loaded');
    const html = render(model);
    expect(html).toContain('jaxinspect is not loaded in this kernel. Run');
    expect(html).toContain('data-testid="jaxinspect-load-button"');
  });

  it('shows versions, devices and live status when ready', () => {
    const model = new SessionModel({ now: () => 1000 });
    model.applyHello(hello({ status: status({ seq: 4, busy: true, events_total: 12 }) }));
    const html = render(model);
    expect(html).toContain('jax 0.12.0.1');
    expect(html).toContain('jaxlib 0.12.0.1');
    expect(html).toContain('flax not installed');
    expect(html.match(/data-testid="jaxinspect-device"/g)).toHaveLength(2);
    expect(html).toContain('title="TFRT_CPU_0"');
    expect(html).toContain('data-testid="jaxinspect-busy">busy<');
    expect(html).toContain('data-testid="jaxinspect-status-seq">4<');
    expect(html).toContain('data-testid="jaxinspect-events">12<');
    expect(html).toContain('updated 0.3 s ago');
    expect(html).not.toContain('jaxinspect-load-button');
  });

  it('shows the env note when the backend is not initialized', () => {
    const model = new SessionModel();
    model.applyHello(
      hello({
        env: env({ backend: null, backend_initialized: false, devices: [], device_count: 0, note: 'backend starts on first use' })
      })
    );
    expect(render(model)).toContain('backend starts on first use');
  });

  it('bounds the device list with an "N more" marker', () => {
    const devices = Array.from({ length: 100 }, (_, i) => ({
      id: i,
      platform: 'cpu',
      device_kind: 'cpu',
      process_index: 0,
      label: `TFRT_CPU_${i}`
    }));
    const model = new SessionModel();
    model.applyHello(hello({ env: env({ devices, device_count: 100 }) }));
    const html = render(model);
    expect(html.match(/data-testid="jaxinspect-device"/g)).toHaveLength(MAX_DEVICE_ROWS);
    expect(html).toContain(`${100 - MAX_DEVICE_ROWS} more`);
  });

  it('escapes kernel strings', () => {
    const model = new SessionModel();
    model.applyHello(hello({ env: env({ jax_version: '<img src=x onerror=alert(1)>' }) }));
    const html = render(model);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img');
  });
});

describe('formatAge', () => {
  it('formats seconds, minutes and never', () => {
    expect(formatAge(null, 5)).toBe('never');
    expect(formatAge(1000, 1300)).toBe('0.3 s ago');
    expect(formatAge(0, 45_000)).toBe('45 s ago');
    expect(formatAge(0, 600_000)).toBe('10 min ago');
  });
});
