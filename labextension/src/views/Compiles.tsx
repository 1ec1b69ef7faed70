/**
 * The Compiles tab: every jitted call that missed the cache, live, with the reason.
 *
 * Recompile-storm alerts on top, then exact per-function totals (`compile_stats`), then the event
 * list, newest first; clicking an event shows its reasons and phases. JAX-internal eager compiles
 * are hidden unless asked for. Kernel strings are rendered as React text only; places, times,
 * reason names and summaries and whether an event can be diffed arrive computed by the kernel.
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import type { ICompileAlert, ICompileEvent, ICompileStats, IReason } from '../protocol';
import { NamedText } from './names';
import { CellLocation } from './location';
import type { IPanelActions, ITabProps } from './tabs';
import { bounded, boundedDetails } from './format';

/** Most event rows shown; older ones are summarized as "N more". */
export const MAX_EVENT_ROWS = 200;
/** Most function rows shown. */
export const MAX_FUNCTION_ROWS = 200;
/** Most alerts shown (one per function and kind — recompiles, memory — the latest). */
export const MAX_ALERT_ROWS = 20;
/** Most differences listed under one summarised reason (the kernel keeps at most 64). */
export const MAX_DETAIL_ROWS = 20;

export const EMPTY_TEXT =
  'No compiles yet. Every jitted call that misses the cache appears here, with the reason.';

/** What the tab shows for one model, derived from its records (pure). */
export interface ICompilesData {
  /** The latest alert per function, newest first. */
  alerts: ICompileAlert[];
  /** Functions shown, most total compile time first. */
  functions: ICompileStats[];
  /** Events shown, newest first. */
  events: ICompileEvent[];
  /** JAX-internal events held but hidden (0 when they are shown). */
  hiddenEvents: number;
  /** Events the sidebar or the kernel dropped (older than the ring holds). */
  droppedEvents: number;
}

export function compilesData(model: SessionModel, showInternal: boolean): ICompilesData {
  const held = model.compileEvents;
  const events: ICompileEvent[] = [];
  let hiddenEvents = 0;
  for (let i = held.length - 1; i >= 0; i--) {
    const e = held[i];
    if (e.internal && !showInternal) {
      hiddenEvents++;
    } else {
      events.push(e);
    }
  }
  const functions = model.compileStats
    .filter(s => showInternal || !s.internal)
    .sort((a, b) => (b.total_s ?? 0) - (a.total_s ?? 0));
  const latest = new Map<string, ICompileAlert>();
  for (const a of model.compileAlerts) {
    latest.delete(alertKey(a));
    latest.set(alertKey(a), a);
  }
  const alerts = Array.from(latest.values()).reverse();
  return { alerts, functions, events, hiddenEvents, droppedEvents: model.dropped('compile') };
}

/** A function's memory alert stands beside its recompile alert; a newer one of a kind replaces. */
export function alertKey(a: ICompileAlert): string {
  return `${a.fun_key}\u0000${a.reason_kind === 'memory' ? 'memory' : 'recompiles'}`;
}

/** The tab badge: how many user (non-internal) compiles the kernel reported; null for none. */
export function compilesBadge(model: SessionModel | null): string | null {
  if (!model) {
    return null;
  }
  let exact = 0;
  for (const s of model.compileStats) {
    if (!s.internal) {
      exact += s.compiles ?? 0;
    }
  }
  // Events may arrive before their stats; never show fewer than we hold.
  const held = model.compileEvents.filter(e => !e.internal).length;
  const n = Math.max(exact, held);
  return n > 0 ? String(n) : null;
}

/** The tab: keeps the selection and the internal toggle, renders `CompilesView`. */
export function Compiles(props: ITabProps): React.ReactElement {
  const { model, actions } = props;
  const [showInternal, setShowInternal] = React.useState(false);
  const [selection, setSelection] = React.useState<{
    model: SessionModel | null;
    id: number;
  } | null>(null);
  const [diff, setDiff] = React.useState<{ model: SessionModel | null; state: IDiffState } | null>(
    null
  );
  // A selection (and a diff) belongs to the notebook it was made in.
  const selectedId = selection && selection.model === model ? selection.id : null;
  const diffState = diff && diff.model === model ? diff.state : null;
  const requestDiff = actions.compileDiff
    ? (id: number) => {
        setDiff({ model, state: { eventId: id, status: 'loading', text: '' } });
        actions.compileDiff!(id).then(
          result =>
            setDiff(current =>
              current && current.state.eventId === id
                ? {
                    model,
                    state: {
                      eventId: id,
                      status: result.ok ? 'done' : 'error',
                      text: result.text
                    }
                  }
                : current
            ),
          (err: unknown) =>
            setDiff(current =>
              current && current.state.eventId === id
                ? {
                    model,
                    state: {
                      eventId: id,
                      status: 'error',
                      text: err instanceof Error ? err.message : String(err)
                    }
                  }
                : current
            )
        );
      }
    : undefined;
  return (
    <CompilesView
      model={model}
      showInternal={showInternal}
      selectedId={selectedId}
      onSelect={id => setSelection(id === null ? null : { model, id })}
      onToggleInternal={setShowInternal}
      diff={diffState}
      onDiff={requestDiff}
      actions={actions}
    />
  );
}

/** The jaxpr diff requested for one event: loading, or the kernel's text (or error). */
export interface IDiffState {
  eventId: number;
  status: 'loading' | 'done' | 'error';
  text: string;
}

export interface ICompilesViewProps {
  model: SessionModel | null;
  showInternal: boolean;
  /** `id` of the event whose details are open, or null. */
  selectedId: number | null;
  onSelect(id: number | null): void;
  onToggleInternal(show: boolean): void;
  /** The diff shown under the selected event, if one was requested. */
  diff?: IDiffState | null;
  /** Ask the kernel for the jaxpr diff of a recompile; absent: no diff button. */
  onDiff?(id: number): void;
  /** The panel's actions: cell locations scroll the notebook with `revealCell`. */
  actions?: IPanelActions | null;
}

/** The tab's content for given view state (no hooks, so tests can call it directly). */
export function CompilesView(props: ICompilesViewProps): React.ReactElement {
  const { model, showInternal, selectedId, onSelect, onToggleInternal, diff, onDiff, actions } =
    props;
  if (!model) {
    return (
      <div className="jp-JaxInspect-compiles">
        <p className="jp-JaxInspect-hint">Open a notebook to inspect its kernel</p>
      </div>
    );
  }
  const data = compilesData(model, showInternal);
  const nothing = data.events.length === 0 && data.functions.length === 0;
  if (nothing && model.state !== 'ready') {
    return (
      <div className="jp-JaxInspect-compiles">
        <p className="jp-JaxInspect-hint">
          Not connected to jaxinspect in this kernel; see the Overview tab.
        </p>
      </div>
    );
  }
  return (
    <div className="jp-JaxInspect-compiles">
      <label className="jp-JaxInspect-toggle">
        <input
          type="checkbox"
          data-testid="jaxinspect-show-internal"
          checked={showInternal}
          onChange={ev => onToggleInternal(ev.currentTarget.checked)}
        />
        {' show JAX-internal compiles'}
        {!showInternal && data.hiddenEvents > 0 && (
          <span className="jp-JaxInspect-dim" data-testid="jaxinspect-hidden-count">
            {` (${data.hiddenEvents} hidden)`}
          </span>
        )}
      </label>
      {data.alerts.length > 0 && <Alerts alerts={data.alerts} />}
      {nothing ? (
        <p className="jp-JaxInspect-hint" data-testid="jaxinspect-compiles-empty">
          {EMPTY_TEXT}
        </p>
      ) : (
        <>
          <Functions functions={data.functions} actions={actions} />
          <Events
            events={data.events}
            dropped={data.droppedEvents}
            selectedId={selectedId}
            onSelect={onSelect}
            diff={diff ?? null}
            onDiff={onDiff}
            actions={actions}
          />
        </>
      )}
    </div>
  );
}

function Alerts(props: { alerts: ICompileAlert[] }): React.ReactElement {
  const { shown, more } = bounded(props.alerts, MAX_ALERT_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      {shown.map(a => (
        <div
          key={alertKey(a)}
          className="jp-JaxInspect-alert"
          data-testid="jaxinspect-compile-alert"
          data-fun-name={a.fun_name}
          data-reason-kind={a.reason_kind}
        >
          <div className="jp-JaxInspect-alertMessage">
            <NamedText text={a.message} />
          </div>
          <div className="jp-JaxInspect-alertHint">
            <NamedText text={`fix: ${a.hint}`} />
          </div>
        </div>
      ))}
      {more > 0 && <div className="jp-JaxInspect-more">{`${more} more alerts`}</div>}
    </section>
  );
}

function Functions(props: {
  functions: ICompileStats[];
  actions?: IPanelActions | null;
}): React.ReactElement | null {
  if (props.functions.length === 0) {
    return null;
  }
  const { shown, more } = bounded(props.functions, MAX_FUNCTION_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Functions</h3>
      <table className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-compileFunctions">
        <thead>
          <tr>
            <th>function</th>
            <th className="jp-JaxInspect-num">compiles</th>
            <th className="jp-JaxInspect-num">total</th>
            <th>reasons</th>
            <th>defined at</th>
          </tr>
        </thead>
        <tbody>
          {shown.map(s => (
            <React.Fragment key={s.fun_key}>
              <tr
                data-testid="jaxinspect-compile-function"
                data-fun-name={s.fun_name}
                title={s.defined ? `defined at ${s.defined.text}` : undefined}
                className={s.internal ? 'jp-JaxInspect-internal' : undefined}
              >
                <td className="jp-JaxInspect-code jp-JaxInspect-cardName" title={s.fun_name}>
                  {s.fun_name}
                </td>
                <td className="jp-JaxInspect-num" data-label="compiles">
                  {String(s.compiles)}
                </td>
                <td className="jp-JaxInspect-num" data-label="total">
                  {s.total_text}
                </td>
                <td className="jp-JaxInspect-cardText" data-label="reasons">
                  {s.reasons_text}
                </td>
                <td className="jp-JaxInspect-cardText" data-label="defined at">
                  <CellLocation
                    loc={s.defined}
                    actions={props.actions}
                    fallback="?"
                    testid="jaxinspect-function-defined"
                  />
                </td>
              </tr>
              {s.notes.map((note, i) => (
                <tr
                  key={i}
                  className="jp-JaxInspect-dim jp-JaxInspect-cardNote"
                  data-testid="jaxinspect-compile-function-note"
                  data-fun-name={s.fun_name}
                >
                  <td colSpan={5}>{note}</td>
                </tr>
              ))}
            </React.Fragment>
          ))}
          {more > 0 && (
            <tr className="jp-JaxInspect-more">
              <td colSpan={5}>{`${more} more`}</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** The first reason's message, or what stands in for it. */
export function eventReason(e: ICompileEvent): string {
  const first = e.reasons?.[0];
  if (first) {
    return first.message;
  }
  return e.internal ? 'JAX-internal' : '–';
}

function Events(props: {
  events: ICompileEvent[];
  dropped: number;
  selectedId: number | null;
  onSelect(id: number | null): void;
  diff: IDiffState | null;
  onDiff?(id: number): void;
  actions?: IPanelActions | null;
}): React.ReactElement | null {
  const { events, dropped, selectedId, onSelect, diff, onDiff, actions } = props;
  if (events.length === 0) {
    return null;
  }
  const { shown, more } = bounded(events, MAX_EVENT_ROWS);
  const rows: React.ReactElement[] = [];
  for (const e of shown) {
    const selected = e.id === selectedId;
    const toggle = () => onSelect(selected ? null : e.id);
    const extra = (e.reasons?.length ?? 0) - 1;
    rows.push(
      <li
        key={`e${e.id}`}
        className={
          'jp-JaxInspect-compileEvent' +
          (selected ? ' jp-mod-selected' : '') +
          (e.internal ? ' jp-JaxInspect-internal' : '')
        }
        data-testid="jaxinspect-compile-event"
        data-fun-name={e.fun_name}
        data-compile-id={String(e.id)}
        role="button"
        tabIndex={0}
        aria-expanded={selected}
        onClick={toggle}
        onKeyDown={ev => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            toggle();
          }
        }}
      >
        <div className="jp-JaxInspect-compileHead">
          <span className="jp-JaxInspect-dim">{`#${e.id}`}</span>
          <span className="jp-JaxInspect-code jp-JaxInspect-compileName" title={e.fun_name}>
            {e.fun_name}
          </span>
          <CellLocation
            loc={e.call}
            fallback={e.location}
            actions={actions}
            className="jp-JaxInspect-dim jp-JaxInspect-compileSite"
            testid="jaxinspect-compile-site"
          />
          <span className="jp-JaxInspect-compileTime">{e.total_text}</span>
        </div>
        <div className="jp-JaxInspect-compileReason">
          <NamedText text={eventReason(e)} />
          {extra > 0 && <span className="jp-JaxInspect-dim">{` +${extra} more`}</span>}
        </div>
      </li>
    );
    if (selected) {
      rows.push(
        <Details
          key={`d${e.id}`}
          event={e}
          diff={diff && diff.eventId === e.id ? diff : null}
          onDiff={onDiff && e.diffable ? () => onDiff(e.id) : undefined}
          actions={actions}
        />
      );
    }
  }
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Compiles, newest first</h3>
      <ul className="jp-JaxInspect-compileEvents">{rows}</ul>
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-compile-more">
          {`${more} more`}
        </div>
      )}
      {dropped > 0 && (
        <div className="jp-JaxInspect-more">{`${dropped} older compiles not kept`}</div>
      )}
    </section>
  );
}

function KV(props: { label: string; value: string }): React.ReactElement {
  return (
    <tr>
      <th scope="row">{props.label}</th>
      <td title={props.value}>{props.value}</td>
    </tr>
  );
}

function ReasonItem(props: { reason: IReason }): React.ReactElement {
  const r = props.reason;
  const changed = r.before !== null || r.after !== null;
  return (
    <li className="jp-JaxInspect-reason" data-testid="jaxinspect-compile-reason" data-kind={r.kind}>
      <span className="jp-JaxInspect-reasonKind">{r.label}</span>
      {r.path !== null && (
        <>
          {' '}
          <span className="jp-JaxInspect-name" title={r.path}>
            {r.path}
          </span>
        </>
      )}
      {changed && (
        <>
          {' '}
          <span
            className="jp-JaxInspect-name"
            title={`${r.before ?? '?'} → ${r.after ?? '?'}`}
          >{`${r.before ?? '?'} → ${r.after ?? '?'}`}</span>
        </>
      )}
      {r.recreated && <span className="jp-JaxInspect-dim"> (re-created)</span>}
      <div className="jp-JaxInspect-reasonMessage" data-testid="jaxinspect-compile-reason-message">
        <NamedText text={r.message} />
      </div>
      <ReasonDetails lines={r.details} />
    </li>
  );
}

/**
 * Every difference a summarised reason stands for, one click away (closed `<details>`): one
 * item each (its quoted paths never broken), at most `MAX_DETAIL_ROWS`, then "N more".
 */
function ReasonDetails(props: { lines?: string[] | null }): React.ReactElement | null {
  const { shown, more, total } = boundedDetails(props.lines, MAX_DETAIL_ROWS);
  if (total === 0) {
    return null;
  }
  return (
    <details
      className="jp-JaxInspect-reasonDetails"
      data-testid="jaxinspect-compile-reason-details"
    >
      <summary data-testid="jaxinspect-compile-reason-details-summary">
        {`${total} difference${total === 1 ? '' : 's'}`}
      </summary>
      <ul className="jp-JaxInspect-reasonDetailList">
        {shown.map((line, i) => (
          <li
            key={i}
            className="jp-JaxInspect-reasonDetail"
            data-testid="jaxinspect-compile-reason-detail"
          >
            <NamedText text={line} />
          </li>
        ))}
      </ul>
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-compile-reason-details-more">
          {`${more} more`}
        </div>
      )}
    </details>
  );
}

function Details(props: {
  event: ICompileEvent;
  diff: IDiffState | null;
  onDiff?: () => void;
  actions?: IPanelActions | null;
}): React.ReactElement {
  const { event: e, diff, onDiff, actions } = props;
  const reasons = e.reasons ?? [];
  return (
    <li className="jp-JaxInspect-compileDetails" data-testid="jaxinspect-compile-details">
      <div className="jp-JaxInspect-detailsLabel">reasons</div>
      {reasons.length ? (
        <ul className="jp-JaxInspect-reasons">
          {reasons.map((r, i) => (
            <ReasonItem key={i} reason={r} />
          ))}
        </ul>
      ) : (
        <div className="jp-JaxInspect-dim">
          <NamedText text={eventReason(e)} />
        </div>
      )}
      <table className="jp-JaxInspect-kv">
        <tbody>
          <KV label="trace" value={e.trace_text} />
          <KV label="lower" value={e.lower_text} />
          <KV label="compile" value={e.compile_text} />
          <KV label="total" value={e.total_text} />
          <KV label="persistent cache" value={e.persistent_cache ?? 'off'} />
          {e.memory && <KV label="compiled memory" value={e.memory.text} />}
          <KV label="signature" value={e.signature || '–'} />
          {(e.out_shardings ?? []).some(o => o !== 'unspecified') && (
            <KV
              label="outputs"
              value={(e.out_shardings ?? []).map((o, i) => `${i}: ${o}`).join(' · ')}
            />
          )}
          <tr>
            <th scope="row">defined at</th>
            <td>
              <CellLocation
                loc={e.defined}
                actions={actions}
                fallback={e.defined_at ?? '?'}
                testid="jaxinspect-compile-defined"
              />
            </td>
          </tr>
          <tr>
            <th scope="row">call site</th>
            <td>
              <CellLocation
                loc={e.call}
                fallback={e.location}
                actions={actions}
                testid="jaxinspect-compile-call-site"
              />
            </td>
          </tr>
          {e.cell !== null && <KV label="cell" value={`[${e.cell}]`} />}
          <KV label="thread" value={e.thread} />
          <KV label="process" value={String(e.process_index)} />
          <KV label="api" value={e.api} />
          <KV label="inside" value={e.parent ?? '–'} />
        </tbody>
      </table>
      {onDiff && (
        <button
          className="jp-JaxInspect-button"
          data-testid="jaxinspect-compile-diff-button"
          disabled={diff?.status === 'loading'}
          onClick={ev => {
            ev.stopPropagation();
            onDiff();
          }}
        >
          {diff?.status === 'loading' ? 'Tracing both calls…' : 'jaxpr diff vs. previous call'}
        </button>
      )}
      {diff && diff.status !== 'loading' && (
        <pre
          className={
            'jp-JaxInspect-diff' + (diff.status === 'error' ? ' jp-JaxInspect-warnText' : '')
          }
          data-testid="jaxinspect-compile-diff"
          data-status={diff.status}
        >
          {diff.text}
        </pre>
      )}
    </li>
  );
}
