/** The Overview tab: connection state, versions, backend, devices and the live status. */

import * as React from 'react';

import type { IDevice, IEnvRecord, IStatusRecord } from '../protocol';
import type { ITabProps } from './tabs';
import { bounded, formatAge, formatVersion } from './format';

/** Most device rows shown; the rest are summarized as "N more". */
export const MAX_DEVICE_ROWS = 64;

export function Overview(props: ITabProps): React.ReactElement {
  const { model, now, actions } = props;
  if (!model) {
    return (
      <div className="jp-JaxInspect-overview">
        <p className="jp-JaxInspect-hint">Open a notebook to inspect its kernel</p>
      </div>
    );
  }
  const state = model.state;
  return (
    <div className="jp-JaxInspect-overview">
      {state === 'not-loaded' && (
        <div className="jp-JaxInspect-notice">
          <p className="jp-JaxInspect-hint">
            jaxinspect is not loaded in this kernel. Run <code>%load_ext jaxinspect</code>
          </p>
          <button
            className="jp-JaxInspect-button jp-mod-styled jp-mod-accept"
            data-testid="jaxinspect-load-button"
            onClick={() => actions.loadExtension()}
          >
            Load jaxinspect
          </button>
        </div>
      )}
      {state === 'no-kernel' && (
        <p className="jp-JaxInspect-hint">This notebook has no kernel. Start a kernel to inspect it.</p>
      )}
      {state === 'connecting' && <p className="jp-JaxInspect-hint">Connecting to the kernel…</p>}
      {(state === 'dead' || state === 'error') && (
        <button className="jp-JaxInspect-button jp-mod-styled" onClick={() => actions.reconnect()}>
          Reconnect
        </button>
      )}
      {state === 'ready' && model.env && <EnvSection env={model.env} />}
      {state === 'ready' && model.status && (
        <StatusSection
          status={model.status}
          lastUpdate={model.lastUpdate}
          now={now}
          internalErrors={model.internalErrorCount}
        />
      )}
    </div>
  );
}

function Row(props: { label: string; children: React.ReactNode; testid?: string }) {
  return (
    <tr>
      <th scope="row">{props.label}</th>
      <td data-testid={props.testid}>{props.children}</td>
    </tr>
  );
}

function EnvSection(props: { env: IEnvRecord }): React.ReactElement {
  const env = props.env;
  const devices = env.devices ?? [];
  const { shown, more } = bounded(devices, MAX_DEVICE_ROWS);
  // Devices the kernel knows about but did not send (it may bound the list itself).
  const unsent = Math.max(0, (env.device_count ?? devices.length) - devices.length);
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Environment</h3>
      <ul className="jp-JaxInspect-versions" data-testid="jaxinspect-versions">
        <li>jax {formatVersion(env.jax_version)}</li>
        <li>jaxlib {formatVersion(env.jaxlib_version)}</li>
        <li>flax {formatVersion(env.flax_version)}</li>
        <li>python {env.python_version}</li>
      </ul>
      <table className="jp-JaxInspect-kv">
        <tbody>
          <Row label="backend" testid="jaxinspect-backend">
            {env.backend_initialized && env.backend ? env.backend : 'not started'}
          </Row>
          <Row label="process">
            {env.process_index} of {env.process_count}
          </Row>
          <Row label="devices">{env.device_count}</Row>
        </tbody>
      </table>
      {env.note && (
        <p className="jp-JaxInspect-note" data-testid="jaxinspect-env-note">
          {env.note}
        </p>
      )}
      {devices.length > 0 && (
        <table className="jp-JaxInspect-devices" data-testid="jaxinspect-devices">
          <thead>
            <tr>
              <th>id</th>
              <th>platform</th>
              <th>kind</th>
              <th>process</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((d: IDevice) => (
              <tr key={`${d.process_index}:${d.id}`} data-testid="jaxinspect-device" title={d.label}>
                <td>{d.id}</td>
                <td>{d.platform}</td>
                <td>{d.device_kind}</td>
                <td>{d.process_index}</td>
              </tr>
            ))}
            {more + unsent > 0 && (
              <tr className="jp-JaxInspect-more">
                <td colSpan={4}>{more + unsent} more</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

function StatusSection(props: {
  status: IStatusRecord;
  lastUpdate: number | null;
  now: number;
  internalErrors: number;
}): React.ReactElement {
  const { status, lastUpdate, now, internalErrors } = props;
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Kernel</h3>
      <table className="jp-JaxInspect-kv">
        <tbody>
          <Row label="state">
            <span
              className={status.busy ? 'jp-JaxInspect-busy' : 'jp-JaxInspect-idle'}
              data-testid="jaxinspect-busy"
            >
              {status.busy ? 'busy' : 'idle'}
            </span>
          </Row>
          <Row label="execution count" testid="jaxinspect-execution-count">
            {status.execution_count}
          </Row>
          <Row label="cell elapsed" testid="jaxinspect-cell-elapsed">
            {status.cell_elapsed_text}
          </Row>
          <Row label="events recorded" testid="jaxinspect-events">
            {status.events_total}
          </Row>
          <Row label="status seq" testid="jaxinspect-status-seq">
            {status.seq}
          </Row>
          <Row label="last update" testid="jaxinspect-updated">
            updated {formatAge(lastUpdate, now)}
          </Row>
          <Row label="internal errors" testid="jaxinspect-internal-errors">
            <span className={internalErrors > 0 ? 'jp-JaxInspect-errorText' : undefined}>
              {internalErrors}
            </span>
          </Row>
        </tbody>
      </table>
    </section>
  );
}
