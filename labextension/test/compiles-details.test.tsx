/**
 * Compiles tab, issue 15 §3: every reason kind is shown by its short display name (the kernel's
 * `label`; tests/test_derived.py checks every kind has one), and a summarised reason's
 * differences (`details`) are one click away, bounded, as text.
 */

import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord, IReason } from '../src/protocol';
import { CompilesView, MAX_DETAIL_ROWS } from '../src/views/Compiles';
import type { ICompilesViewProps } from '../src/views/Compiles';
import { boundedDetails, splitNames } from '../src/views/format';
import { FIRST_CALL, batch, compileEvent, compileStats, hello, reason } from './fixtures';
import { count, text } from './html';

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

function render(model: SessionModel, overrides: Partial<ICompilesViewProps> = {}): string {
  return renderToStaticMarkup(
    <CompilesView
      model={model}
      showInternal={false}
      selectedId={null}
      onSelect={() => undefined}
      onToggleInternal={() => undefined}
      {...overrides}
    />
  );
}

/** Inner HTML of every element with `testid` (tags kept). */
function inner(html: string, testid: string, tag = 'li'): string[] {
  const out: string[] = [];
  let at = html.indexOf(`data-testid="${testid}"`);
  while (at >= 0) {
    const open = html.indexOf('>', at) + 1;
    out.push(html.slice(open, html.indexOf(`</${tag}>`, open)));
    at = html.indexOf(`data-testid="${testid}"`, open);
  }
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** bf16 compute on a 12-block NNX model, as the kernel reports it (captured from jaxinspect). */
function bf16Reason(blocks = 12): IReason {
  const details: string[] = [];
  for (let b = 0; b < blocks; b++) {
    for (const fc of ['fc1', 'fc2']) {
      details.push(
        `static part \`model.blocks[${b}].${fc}.dtype\` of argument \`model\` changed float32 → bfloat16`
      );
    }
  }
  return {
    kind: 'static_part',
    path: 'model.blocks[0].fc1.dtype',
    before: 'float32',
    after: 'bfloat16',
    message:
      `${details.length} static fields changed float32 → bfloat16: \`model.blocks[0].fc1.dtype\`, ` +
      `\`model.blocks[0].fc2.dtype\`, … (${details.length - 2} more)`,
    recreated: false,
    details,
    label: 'static field'
  };
}

describe('Compiles tab: reason names', () => {
  it('shows each reason by the name the kernel gave it, never its raw kind', () => {
    const model = modelWith([
      compileEvent({ id: 2, reasons: [bf16Reason(), reason({ kind: 'some_new_kind', label: 'new words' })] })
    ]);
    const html = render(model, { selectedId: 2 });
    expect(html).toContain('<span class="jp-JaxInspect-reasonKind">static field</span>');
    expect(html).toContain('<span class="jp-JaxInspect-reasonKind">new words</span>');
    expect(html).not.toContain('static_part<');
    expect(html).not.toContain('some_new_kind<'); // (kept as data-kind for tests and styles)
  });

  it('shows the reason counts the kernel wrote in the functions table', () => {
    const model = modelWith([
      compileEvent({ id: 1, reasons: [FIRST_CALL] }),
      compileEvent({ id: 2, reasons: [bf16Reason()] }),
      compileStats({
        compiles: 2,
        reasons: { first_call: 1, static_part: 1 },
        reasons_text: 'first call ×1, static field ×1'
      })
    ]);
    const html = render(model);
    expect(html).toContain('data-label="reasons">first call ×1, static field ×1</td>');
    expect(html).not.toContain('static_part');
  });
});

describe('Compiles tab: a summarised reason and its differences', () => {
  it('keeps the differences one click away under the selected event, bounded', () => {
    const r = bf16Reason();
    const model = modelWith([
      compileEvent({ id: 1, reasons: [FIRST_CALL] }),
      compileEvent({ id: 2, reasons: [r] })
    ]);
    // the event row: the one-line summary; no differences until the event is opened
    const closed = render(model);
    // (its quoted paths as whole names: code, no backticks)
    expect(closed.replace(/<[^>]*>/g, '')).toContain(esc(r.message.replace(/`/g, '')));
    expect(closed).toContain(
      '<code class="jp-JaxInspect-name" title="model.blocks[0].fc1.dtype">model.blocks[0].fc1.dtype</code>'
    );
    expect(closed).not.toContain('jaxinspect-compile-reason-details');

    const html = render(model, { selectedId: 2 });
    expect(count(html, 'jaxinspect-compile-reason')).toBe(1);
    expect(html).toContain(
      '<span class="jp-JaxInspect-reasonKind">static field</span>'
    );
    expect(html).not.toContain('static_part<');
    // the summary line: its paths are whole names, not broken inside
    expect(text(html, 'jaxinspect-compile-reason-message')).toBe(
      '24 static fields changed float32 → bfloat16: model.blocks[0].fc1.dtype, ' +
        'model.blocks[0].fc2.dtype, … (22 more)'
    );
    expect(inner(html, 'jaxinspect-compile-reason-message', 'div')[0]).toContain(
      '<code class="jp-JaxInspect-name" title="model.blocks[0].fc2.dtype">model.blocks[0].fc2.dtype</code>, … (22 more)'
    );
    // a closed <details>: one click shows them
    expect(html).toMatch(
      /<details class="jp-JaxInspect-reasonDetails" data-testid="jaxinspect-compile-reason-details">/
    );
    expect(text(html, 'jaxinspect-compile-reason-details-summary')).toBe('24 differences');
    const items = inner(html, 'jaxinspect-compile-reason-detail');
    expect(items).toHaveLength(MAX_DETAIL_ROWS);
    expect(text(html, 'jaxinspect-compile-reason-detail')).toBe(
      'static part model.blocks[0].fc1.dtype of argument model changed float32 → bfloat16'
    );
    // a path is one unbreakable name with its full text as the tooltip
    expect(items[0]).toBe(
      'static part <code class="jp-JaxInspect-name" title="model.blocks[0].fc1.dtype">' +
        'model.blocks[0].fc1.dtype</code> of argument <code class="jp-JaxInspect-name" ' +
        'title="model">model</code> changed float32 → bfloat16'
    );
    expect(items[MAX_DETAIL_ROWS - 1]).toContain('model.blocks[9].fc2.dtype');
    expect(html).not.toContain('model.blocks[10].fc1.dtype');
    expect(text(html, 'jaxinspect-compile-reason-details-more')).toBe('4 more');
  });

  it('counts what the kernel left out of its own bounded list', () => {
    const lines = Array.from({ length: 63 }, (_, i) => `\`opt.mu[${i}]\` changed`);
    const r = reason({
      kind: 'more',
      path: null,
      before: null,
      after: null,
      message: '… 103 more differences',
      details: [...lines, '… 40 more']
    });
    expect(boundedDetails(r.details, 20)).toEqual({
      shown: lines.slice(0, 20),
      more: 83,
      total: 103
    });
    const html = render(modelWith([compileEvent({ id: 2, reasons: [reason(), r] })]), {
      selectedId: 2
    });
    expect(count(html, 'jaxinspect-compile-reason')).toBe(2);
    expect(count(html, 'jaxinspect-compile-reason-details')).toBe(1);
    expect(text(html, 'jaxinspect-compile-reason-details-summary')).toBe('103 differences');
    expect(count(html, 'jaxinspect-compile-reason-detail')).toBe(20);
    expect(text(html, 'jaxinspect-compile-reason-details-more')).toBe('83 more');
    expect(html).not.toContain('… 40 more');

    // few differences: all shown, no "more"; one difference reads in the singular
    const few = render(
      modelWith([compileEvent({ id: 2, reasons: [reason({ details: ['`x` grew'] })] })]),
      { selectedId: 2 }
    );
    expect(text(few, 'jaxinspect-compile-reason-details-summary')).toBe('1 difference');
    expect(count(few, 'jaxinspect-compile-reason-detail')).toBe(1);
    expect(few).not.toContain('jaxinspect-compile-reason-details-more');
  });

  it('shows no differences for a reason without them (or from an older kernel)', () => {
    const plain = reason();
    delete plain.details;
    const html = render(
      modelWith([compileEvent({ id: 2, reasons: [plain, reason({ details: [] })] })]),
      { selectedId: 2 }
    );
    expect(count(html, 'jaxinspect-compile-reason')).toBe(2);
    expect(html).not.toContain('jaxinspect-compile-reason-details');
    expect(boundedDetails(undefined, 5)).toEqual({ shown: [], more: 0, total: 0 });
  });

  it('renders differences as text only', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const html = render(
      modelWith([
        compileEvent({ id: 2, reasons: [reason({ details: [`\`${evil}\` changed`, evil] })] })
      ]),
      { selectedId: 2 }
    );
    expect(html).not.toContain('<img');
    const items = inner(html, 'jaxinspect-compile-reason-detail');
    expect(items[0]).toBe(
      '<code class="jp-JaxInspect-name" title="&lt;img src=x onerror=alert(1)&gt;">' +
        '&lt;img src=x onerror=alert(1)&gt;</code> changed'
    );
    expect(items[1]).toBe('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('splits kernel text at its quoted names', () => {
    expect(splitNames('a `b.c` d `e`')).toEqual([
      { text: 'a ', code: false },
      { text: 'b.c', code: true },
      { text: ' d ', code: false },
      { text: 'e', code: true }
    ]);
    expect(splitNames('unpaired ` quote')).toEqual([{ text: 'unpaired ` quote', code: false }]);
    expect(splitNames('')).toEqual([]);
  });
});
