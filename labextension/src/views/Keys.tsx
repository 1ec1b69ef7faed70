/**
 * The Keys tab: the PRNG key lineage the kernel tracks (`%jaxinspect keys on` or
 * `with jaxinspect.track_keys():`) and the key reuses it caught.
 *
 * A summary (tracking on/off, keys created, derived, consumed, reused, the on-reuse mode and a
 * button to turn tracking on or off with the `track_keys` RPC), then the reuses (newest first, a
 * re-sent reuse updates its count in place), the lineage tree (pre-order rows indented by depth)
 * and the sampler uses by op and site. Kernel strings are rendered as React text only.
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import type { IKeyCount, IKeyNode, IKeyReuse, IKeys, ILocation } from '../protocol';
import { bounded } from './format';
import type { IPanelActions, ITabProps } from './tabs';
import { CellLocation } from './location';
import { NamedText } from './names';

/** Most reuses shown (newest first). */
export const MAX_REUSE_ROWS = 20;
/** Most lineage rows shown (the kernel already bounds what it sends). */
export const MAX_NODE_ROWS = 500;
/** Most consumer rows shown. */
export const MAX_CONSUMER_ROWS = 50;
/** Pixels of indentation per depth level of the lineage tree. */
export const INDENT_PX = 12;
/** Deeper rows are indented as if at this depth. */
export const MAX_INDENT_DEPTH = 30;

export const NOT_CONNECTED_TEXT =
  'Not connected to jaxinspect in this kernel; see the Overview tab.';
/** The magic the off hint suggests. */
export const KEYS_MAGIC = '%jaxinspect keys on';
/** The context manager the off hint suggests. */
export const KEYS_CONTEXT = 'with jaxinspect.track_keys():';

/**
 * The tab badge: the number of reuses held when there are any, else "on" while the latest
 * snapshot says tracking is on; null otherwise.
 */
export function keysBadge(model: SessionModel | null): string | null {
  if (!model) {
    return null;
  }
  const n = model.keyReuses.length;
  if (n > 0) {
    return String(n);
  }
  return model.keys?.tracking ? 'on' : null;
}

/**
 * In the narrow sidebar (250–400 px) a lineage row is indented at most this many levels, this
 * many pixels each, so a long `key, sub = split(key)` chain leaves its labels room.
 */
export const NARROW_MAX_INDENT_DEPTH = 8;
export const NARROW_INDENT_PX = 10;

/**
 * Left padding of a lineage row at `depth`, in pixels (capped at `MAX_INDENT_DEPTH`; `narrow`:
 * at `NARROW_MAX_INDENT_DEPTH`, `NARROW_INDENT_PX` a level).
 */
export function indentPx(depth: number, narrow = false): number {
  const max = narrow ? NARROW_MAX_INDENT_DEPTH : MAX_INDENT_DEPTH;
  const d = Number.isFinite(depth) ? Math.max(0, Math.min(max, Math.floor(depth))) : 0;
  return d * (narrow ? NARROW_INDENT_PX : INDENT_PX);
}

/** "120 more keys not shown · 5,000 older keys summarised"; '' when there is neither. */
export function moreKeysText(more: number, summarised: number): string {
  const parts: string[] = [];
  if (more > 0) {
    parts.push(`${formatInt(more)} more ${more === 1 ? 'key' : 'keys'} not shown`);
  }
  if (summarised > 0) {
    parts.push(`${formatInt(summarised)} older ${summarised === 1 ? 'key' : 'keys'} summarised`);
  }
  return parts.join(' · ');
}

/** An integer with thousands separators ("5,000"). */
function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The class of a state badge: reused is an error, consumed muted, split neutral, fresh accent. */
function stateClass(state: string): string {
  switch (state) {
    case 'reused':
      return 'jp-JaxInspect-keysState jp-JaxInspect-keysState-reused';
    case 'consumed':
      return 'jp-JaxInspect-keysState jp-JaxInspect-keysState-consumed';
    case 'fresh':
      return 'jp-JaxInspect-keysState jp-JaxInspect-keysState-fresh';
    default:
      return 'jp-JaxInspect-keysState jp-JaxInspect-keysState-split';
  }
}

/** Ask the kernel to turn key tracking on or off; failures are logged. */
function track(actions: IPanelActions, on: boolean, model: SessionModel | null): void {
  try {
    Promise.resolve(actions.trackKeys?.(on, model)).catch(err =>
      console.warn('jaxinspect: track_keys failed', err)
    );
  } catch (err) {
    console.warn('jaxinspect: track_keys failed', err);
  }
}

// ---------------------------------------------------------------- the tab

/** The tab (no hooks, so tests can call it directly). */
export function Keys(props: ITabProps): React.ReactElement {
  const { model, actions } = props;
  if (!model) {
    return (
      <div className="jp-JaxInspect-keys">
        <p className="jp-JaxInspect-hint">Open a notebook to inspect its kernel</p>
      </div>
    );
  }
  if (model.state !== 'ready') {
    return (
      <div className="jp-JaxInspect-keys">
        <p className="jp-JaxInspect-hint">{NOT_CONNECTED_TEXT}</p>
      </div>
    );
  }
  const keys = model.keys;
  const reuses = model.keyReuses.reverse();
  const nodes: IKeyNode[] = keys && Array.isArray(keys.nodes) ? keys.nodes : [];
  const off = !keys || (!keys.tracking && nodes.length === 0 && reuses.length === 0);
  return (
    <div className="jp-JaxInspect-keys">
      {off ? (
        <OffHint actions={actions} model={model} />
      ) : (
        <Summary keys={keys!} actions={actions} model={model} />
      )}
      {keys?.note && (
        <p className="jp-JaxInspect-note" data-testid="jaxinspect-keys-note">
          {keys.note}
        </p>
      )}
      {reuses.length > 0 && <Reuses reuses={reuses} actions={actions} />}
      {!off && <Tree keys={keys!} nodes={nodes} actions={actions} narrow={!props.wide} />}
      {!off && Array.isArray(keys!.consumers) && keys!.consumers.length > 0 && (
        <Consumers consumers={keys!.consumers} places={keys!.places} actions={actions} />
      )}
    </div>
  );
}

function TrackButton(props: {
  actions: IPanelActions;
  model: SessionModel;
}): React.ReactElement | null {
  const { actions, model } = props;
  if (!actions.trackKeys) {
    return null;
  }
  return (
    <button
      className="jp-JaxInspect-button jp-mod-styled jp-mod-accept"
      data-testid="jaxinspect-keys-track-button"
      onClick={() => track(actions, true, model)}
    >
      Track keys
    </button>
  );
}

function OffHint(props: { actions: IPanelActions; model: SessionModel }): React.ReactElement {
  return (
    <div className="jp-JaxInspect-notice">
      <p className="jp-JaxInspect-hint" data-testid="jaxinspect-keys-off">
        {'Key tracking is off. Run '}
        <code>{KEYS_MAGIC}</code>
        {' or wrap the code in '}
        <code>{KEYS_CONTEXT}</code>
        {' to see the PRNG key lineage and catch reused keys.'}
      </p>
      <TrackButton actions={props.actions} model={props.model} />
    </div>
  );
}

function Summary(props: {
  keys: IKeys;
  actions: IPanelActions;
  model: SessionModel;
}): React.ReactElement {
  const { keys: k, actions, model } = props;
  const tracking = Boolean(k.tracking);
  return (
    <section
      className="jp-JaxInspect-section jp-JaxInspect-keysSummary"
      data-testid="jaxinspect-keys-summary"
      data-tracking={tracking ? 'on' : 'off'}
    >
      <div className="jp-JaxInspect-keysHead">
        <span className={tracking ? 'jp-JaxInspect-keysOn' : 'jp-JaxInspect-dim'}>
          {tracking ? 'tracking on' : 'tracking off'}
        </span>
        <span className="jp-JaxInspect-dim">
          {'on reuse: '}
          <span className="jp-JaxInspect-code" data-testid="jaxinspect-keys-on-reuse">
            {k.on_reuse}
          </span>
        </span>
      </div>
      <div className="jp-JaxInspect-keysCounts">
        <span className="jp-JaxInspect-keysBig" data-testid="jaxinspect-keys-created">
          {String(k.created)}
        </span>
        {' created · '}
        <span className="jp-JaxInspect-keysBig" data-testid="jaxinspect-keys-derived">
          {String(k.derived)}
        </span>
        {' derived · '}
        <span className="jp-JaxInspect-keysBig" data-testid="jaxinspect-keys-consumed">
          {String(k.consumed)}
        </span>
        {' consumed · '}
        <span
          className={k.reuses > 0 ? 'jp-JaxInspect-errorText' : 'jp-JaxInspect-keysBig'}
          data-testid="jaxinspect-keys-reuses"
        >
          {String(k.reuses)}
        </span>
        {k.reuses === 1 ? ' reuse' : ' reuses'}
      </div>
      {tracking ? (
        actions.trackKeys && (
          <button
            className="jp-JaxInspect-button jp-mod-styled"
            data-testid="jaxinspect-keys-stop-button"
            onClick={() => track(actions, false, model)}
          >
            Stop tracking
          </button>
        )
      ) : (
        <TrackButton actions={actions} model={model} />
      )}
    </section>
  );
}

function Reuses(props: { reuses: IKeyReuse[]; actions?: IPanelActions }): React.ReactElement {
  const { shown, more } = bounded(props.reuses, MAX_REUSE_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      {shown.map(r => (
        <div
          key={r.id}
          className="jp-JaxInspect-alert jp-JaxInspect-alert-error"
          data-testid="jaxinspect-keys-reuse"
          data-key={r.key}
          data-where={r.where}
          data-reuse={r.reuse}
        >
          <div className="jp-JaxInspect-alertMessage">
            <NamedText text={r.message} />
            {r.count > 1 && (
              <span className="jp-JaxInspect-keysCount" data-testid="jaxinspect-keys-reuse-count">
                {`×${r.count}`}
              </span>
            )}
          </div>
          <div className="jp-JaxInspect-keysUses">
            <div className="jp-JaxInspect-keysUse">
              <span className="jp-JaxInspect-dim">{'first: '}</span>
              <CellLocation
                loc={r.first_at}
                text={r.first_use}
                actions={props.actions}
                className="jp-JaxInspect-code"
                testid="jaxinspect-keys-reuse-first"
              />
            </div>
            <div className="jp-JaxInspect-keysUse">
              <span className="jp-JaxInspect-dim">{'then: '}</span>
              <CellLocation
                loc={r.second_at}
                text={r.second_use}
                actions={props.actions}
                className="jp-JaxInspect-code"
                testid="jaxinspect-keys-reuse-second"
              />
            </div>
            {r.function && (
              <div className="jp-JaxInspect-keysUse">
                <span className="jp-JaxInspect-dim">{'in jitted '}</span>
                <span
                  className="jp-JaxInspect-code"
                  data-testid="jaxinspect-keys-reuse-function"
                  title={r.function}
                >
                  {r.function}
                </span>
              </div>
            )}
            {Array.isArray(r.path) && r.path.length > 0 && (
              <div className="jp-JaxInspect-keysLineage">
                <span className="jp-JaxInspect-dim">{'lineage: '}</span>
                <span data-testid="jaxinspect-keys-reuse-path" title={r.path.join(' → ')}>
                  {r.path.map((step, i) => (
                    <React.Fragment key={i}>
                      {i > 0 && ' → '}
                      <span className="jp-JaxInspect-name">{step}</span>
                    </React.Fragment>
                  ))}
                </span>
              </div>
            )}
          </div>
          <div className="jp-JaxInspect-alertHint">
            <NamedText text={`fix: ${r.hint}`} />
          </div>
        </div>
      ))}
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-keys-reuse-more">
          {`${more} more`}
        </div>
      )}
    </section>
  );
}

/** A site's place, when the kernel sent one (`KeysRecord.places`; older kernels send none). */
function placeOf(places: IKeys['places'] | undefined, site: string | null): ILocation | null {
  return site && places && Object.prototype.hasOwnProperty.call(places, site) ? places[site] : null;
}

/** A site: a link to its cell when the kernel sent its place, else text as before. */
function Site(props: {
  site: string;
  places?: IKeys['places'];
  actions?: IPanelActions;
  className: string;
  testid: string;
}): React.ReactElement {
  const loc = placeOf(props.places, props.site);
  if (loc) {
    return (
      <CellLocation
        loc={loc}
        text={props.site}
        actions={props.actions}
        className={props.className}
        testid={props.testid}
      />
    );
  }
  return (
    <span className={props.className} data-testid={props.testid} title={props.site}>
      {props.site}
    </span>
  );
}

function Tree(props: {
  keys: IKeys;
  nodes: IKeyNode[];
  actions?: IPanelActions;
  narrow?: boolean;
}): React.ReactElement {
  const { keys: k, nodes } = props;
  const { shown, more } = bounded(nodes, MAX_NODE_ROWS);
  const moreText = moreKeysText(
    more + (k.more_nodes > 0 ? k.more_nodes : 0),
    k.summarised > 0 ? k.summarised : 0
  );
  return (
    <section className="jp-JaxInspect-section">
      <div className="jp-JaxInspect-sectionTitle">Lineage</div>
      {shown.length === 0 && (
        <p className="jp-JaxInspect-hint" data-testid="jaxinspect-keys-empty">
          No keys made yet.
        </p>
      )}
      <div className="jp-JaxInspect-keysTree">
        {shown.map((n, i) => (
          <Node
            key={`${i}:${n.id}`}
            node={n}
            places={k.places}
            actions={props.actions}
            narrow={props.narrow}
          />
        ))}
      </div>
      {moreText && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-keys-more">
          {moreText}
        </div>
      )}
    </section>
  );
}

function Node(props: {
  node: IKeyNode;
  places?: IKeys['places'];
  actions?: IPanelActions;
  narrow?: boolean;
}): React.ReactElement {
  const n = props.node;
  const usedBy = Array.isArray(n.used_by) ? n.used_by : [];
  const unlisted = n.uses > usedBy.length ? n.uses - usedBy.length : 0;
  return (
    <div
      className={
        'jp-JaxInspect-keysNode' + (n.state === 'reused' ? ' jp-JaxInspect-keysNodeReused' : '')
      }
      data-testid="jaxinspect-keys-node"
      data-id={String(n.id)}
      data-state={n.state}
      data-op={n.op}
      style={{ paddingLeft: indentPx(n.depth, props.narrow) }}
      title={n.typed ? `${n.op} · typed key` : n.op}
    >
      <span
        className="jp-JaxInspect-code jp-JaxInspect-keysLabel"
        data-testid="jaxinspect-keys-label"
        title={n.label}
      >
        {n.label}
      </span>
      <span className={stateClass(n.state)} data-testid="jaxinspect-keys-state">
        {n.state}
      </span>
      {n.site && (
        <Site
          site={n.site}
          places={props.places}
          actions={props.actions}
          className="jp-JaxInspect-dim jp-JaxInspect-keysSite"
          testid="jaxinspect-keys-site"
        />
      )}
      {(usedBy.length > 0 || unlisted > 0) && (
        <span className="jp-JaxInspect-keysUsedBy" data-testid="jaxinspect-keys-used-by">
          {'→ ' +
            usedBy.join(', ') +
            (unlisted > 0 ? `${usedBy.length ? ' ' : ''}+${unlisted} more` : '')}
        </span>
      )}
      {n.folded > 0 && (
        <span
          className="jp-JaxInspect-dim jp-JaxInspect-keysFolded"
          data-testid="jaxinspect-keys-folded"
        >
          {`+${n.folded} hidden`}
        </span>
      )}
    </div>
  );
}

function Consumers(props: {
  consumers: IKeyCount[];
  places?: IKeys['places'];
  actions?: IPanelActions;
}): React.ReactElement {
  const { shown, more } = bounded(props.consumers, MAX_CONSUMER_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      <div className="jp-JaxInspect-sectionTitle">Sampler uses</div>
      <table className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-keysConsumers">
        <thead>
          <tr>
            <th>sampler</th>
            <th>site</th>
            <th className="jp-JaxInspect-num">uses</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((c, i) => (
            <tr key={`${i}:${c.name}`} data-testid="jaxinspect-keys-consumer" data-name={c.name}>
              <td className="jp-JaxInspect-code jp-JaxInspect-cardName" title={c.name}>
                {c.name}
              </td>
              <td
                className="jp-JaxInspect-dim jp-JaxInspect-cardRow"
                data-label="site"
                title={c.site ?? ''}
              >
                {c.site && placeOf(props.places, c.site) ? (
                  <CellLocation
                    loc={placeOf(props.places, c.site)}
                    text={c.site}
                    actions={props.actions}
                    testid="jaxinspect-keys-consumer-site"
                  />
                ) : (
                  (c.site ?? '–')
                )}
              </td>
              <td className="jp-JaxInspect-num" data-label="uses">
                {String(c.count)}
              </td>
            </tr>
          ))}
          {more > 0 && (
            <tr className="jp-JaxInspect-more" data-testid="jaxinspect-keys-consumer-more">
              <td colSpan={3}>{`${more} more`}</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
