/**
 * Plugin wiring: the jaxinspect sidebar follows the current notebook, in JupyterLab and in
 * Notebook 7's notebook page (its right side area); a wide view of the same tabs opens in
 * JupyterLab's main area beside the notebook; palette commands show each tab; Settings →
 * jaxinspect is applied live to every connected kernel (see ./settings).
 */

import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification, WidgetTracker } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { Message } from '@lumino/messaging';

import { KernelConnector } from './connector';
import type { StacksParams, StacksResult } from './protocol';
import { jaxinspectIcon } from './icon';
import { SessionModel } from './model';
import { installCellLinks, revealCell } from './reveal';
import { InterestBook, KernelSettings, type SamplerKey } from './settings';
import { createDefaultTabs } from './views/builtin';
import { Panel } from './views/Panel';
import { interestParams, setConfiguredInterval } from './views/interest';
import type { ICompileDiff, IInterest, IPanelActions } from './views/tabs';

export const PANEL_ID = 'jaxinspect-sidebar';
/** The main-area view (`Open jaxinspect in main area`). */
export const MAIN_ID = 'jaxinspect-main';
export const PLUGIN_ID = 'jaxinspect:plugin';

export namespace CommandIDs {
  export const show = 'jaxinspect:show';
  export const openMain = 'jaxinspect:open-main';
  /** `jaxinspect:show-<tab id>`: show the panel with that tab selected. */
  export const showTab = (id: string): string => `jaxinspect:show-${id}`;
}

interface IEntry {
  model: SessionModel;
  connector: KernelConnector;
}

/** The main-area view: closing its tab disposes it (a plain widget would only be detached). */
class MainAreaPanel extends Panel {
  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A sidebar showing what JAX is doing in the current notebook’s kernel.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILabShell, ICommandPalette, ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    labShell: ILabShell | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    if (!labShell && !['notebooks', ''].includes(PageConfig.getOption('notebookPage'))) {
      // Notebook 7's other pages (tree, editor, console) have no notebook to follow
      return;
    }
    const entries = new Map<NotebookPanel, IEntry>();
    const tabs = createDefaultTabs();
    const book = new InterestBook<IEntry>();
    const kernelSettings = new KernelSettings({
      notify: message => {
        console.warn(message);
        Notification.warning(message, { autoClose: 10000 });
      }
    });

    const current = (): IEntry | null => {
      const nb = tracker.currentWidget;
      return nb ? (entries.get(nb) ?? null) : null;
    };

    const entryOf = (model: SessionModel): IEntry | null => {
      for (const entry of entries.values()) {
        if (entry.model === model) {
          return entry;
        }
      }
      return null;
    };

    /** The actions of one view (`sidebar` or `main`): what they sample is merged per kernel. */
    const actionsFor = (view: string): IPanelActions => ({
      loadExtension: () => {
        current()
          ?.connector.loadExtension()
          .catch(err => console.error('jaxinspect: %load_ext failed', err));
      },
      reconnect: () => current()?.connector.connect(),
      compileDiff: async (eventId: number) => {
        const entry = current();
        if (!entry) {
          throw new Error('no notebook is open');
        }
        const result = (await entry.connector.request(
          'compile_diff',
          { event_id: eventId },
          60000
        )) as ICompileDiff;
        return result;
      },
      setInterest: (interest: IInterest, model?: SessionModel | null) => {
        // A model's own kernel (e.g. the notebook the user just left), else the current one.
        const entry = model ? entryOf(model) : current();
        if (!entry) {
          return;
        }
        // Each view asks for its own tab; the kernel samples at the shortest interval any
        // shown view wants (the sidebar hiding its Buffers tab does not stop the main view's).
        const params: { [key: string]: number } = {};
        for (const [key, seconds] of Object.entries(interestParams(interest))) {
          params[key] = book.want(entry, view, key as SamplerKey, seconds);
        }
        entry.connector
          // only the tab's own key (`buffers` or `params`): the kernel keeps the others
          .request('interest', params)
          .catch(err =>
            // e.g. a kernel whose jaxinspect predates `interest`: it just never samples.
            console.warn('jaxinspect: interest request failed', err)
          );
      },
      trackKeys: async (on: boolean, model?: SessionModel | null) => {
        const entry = model ? entryOf(model) : current();
        if (!entry) {
          return;
        }
        try {
          await entry.connector.request('track_keys', { on });
        } catch (err) {
          // e.g. a kernel whose jaxinspect predates `track_keys`.
          console.warn('jaxinspect: track_keys request failed', err);
        }
      },
      askStacks: async (params: StacksParams, model?: SessionModel | null) => {
        const entry = model ? entryOf(model) : current();
        if (!entry) {
          throw new Error('no notebook is open');
        }
        // the kernel waits up to timeout_s for the answers: give the reply that long and more
        const waitMs = (params.timeout_s ?? 3) * 1000 + 10000;
        return (await entry.connector.request('stacks', params, waitMs)) as StacksResult;
      },
      revealCell: (cell: number, line: number | null, code?: string | null) => {
        // the notebook the panel follows (still the current one when the main view has focus)
        const nb = tracker.currentWidget;
        if (nb) {
          void revealCell(nb, cell, line, code, { activate: id => app.shell.activateById(id) });
        }
      },
      ...(labShell && view === 'sidebar' ? { openInMainArea: () => openInMainArea() } : {})
    });

    const panel = new Panel({ tabs, actions: actionsFor('sidebar') });
    panel.id = PANEL_ID;
    panel.title.icon = jaxinspectIcon;
    panel.title.caption = 'jaxinspect';
    if (!labShell) {
      // Notebook 7 lists right-area widgets by label (View → Right Sidebar)
      panel.title.label = 'jaxinspect';
    }
    app.shell.add(panel, 'right', { rank: 600 });
    if (restorer) {
      restorer.add(panel, PANEL_ID);
    }

    let mainPanel: Panel | null = null;
    // the main-area view comes back after a page reload, where the user left it
    const mainTracker = new WidgetTracker<Panel>({ namespace: 'jaxinspect-main' });
    if (restorer && labShell) {
      void restorer.restore(mainTracker, {
        command: CommandIDs.openMain,
        name: () => MAIN_ID
      });
    }

    /** A wide view of the same tabs in the main area, split right of the notebook; one at a time. */
    const openInMainArea = (): void => {
      if (!labShell) {
        return;
      }
      if (mainPanel && !mainPanel.isDisposed) {
        labShell.activateById(mainPanel.id);
        return;
      }
      const view = new MainAreaPanel({ tabs, actions: actionsFor('main'), wide: true });
      view.id = MAIN_ID;
      view.title.icon = jaxinspectIcon;
      view.title.label = 'jaxinspect';
      view.title.caption = 'jaxinspect: the current notebook’s kernel';
      view.title.closable = true;
      view.model = current()?.model ?? null;
      view.select(panel.selected);
      view.disposed.connect(() => {
        if (mainPanel === view) {
          mainPanel = null;
        }
        book.forgetView('main');
      });
      mainPanel = view;
      const nb = tracker.currentWidget;
      app.shell.add(view, 'main', {
        mode: 'split-right',
        ...(nb && !nb.isDisposed && nb.isAttached ? { ref: nb.id } : {})
      });
      void mainTracker.add(view);
      labShell.activateById(view.id);
    };

    const entryFor = (nb: NotebookPanel): IEntry => {
      let entry = entries.get(nb);
      if (!entry) {
        const sessionContext = nb.sessionContext;
        const model = new SessionModel({ name: nb.title.label || sessionContext.path });
        const connector = new KernelConnector({ sessionContext, model });
        const created: IEntry = { model, connector };
        entry = created;
        entries.set(nb, created);
        const stopSettings = kernelSettings.add({
          model,
          request: (method, params) => connector.request(method, params)
        });
        const onTitle = () => {
          model.name = nb.title.label || sessionContext.path;
          model.touch();
        };
        nb.title.changed.connect(onTitle);
        nb.disposed.connect(() => {
          nb.title.changed.disconnect(onTitle);
          entries.delete(nb);
          stopSettings();
          book.forget(created);
          for (const view of [panel, mainPanel]) {
            if (view && view.model === model) {
              view.model = null;
            }
          }
          connector.dispose();
          model.dispose();
        });
      }
      return entry;
    };

    // A page closed or reloaded never disposes its widgets: close every connection now, so the
    // kernel stops sending to sidebars that are gone (it also drops ones that stop pinging).
    window.addEventListener('pagehide', () => {
      for (const entry of entries.values()) {
        entry.connector.dispose();
      }
    });

    const follow = () => {
      const nb = tracker.currentWidget;
      const model = nb && !nb.isDisposed ? entryFor(nb).model : null;
      panel.model = model;
      if (mainPanel && !mainPanel.isDisposed) {
        mainPanel.model = model;
      }
    };
    tracker.currentChanged.connect(follow);
    follow();

    // cell locations in jaxinspect's HTML outputs scroll their notebook: one listener per notebook
    const cellLinks = (nb: NotebookPanel) =>
      installCellLinks(nb, { activate: id => app.shell.activateById(id) });
    tracker.forEach(cellLinks);
    tracker.widgetAdded.connect((_, nb) => cellLinks(nb));

    // Settings → jaxinspect: the sampled tabs' intervals, and the kernels' jaxinspect.config.
    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            const s = kernelSettings.update(settings.composite, Object.keys(settings.user));
            setConfiguredInterval('buffers', s.buffersInterval);
            setConfiguredInterval('params', s.paramsInterval);
          };
          settings.changed.connect(apply);
          apply();
        })
        .catch(err => console.warn('jaxinspect: could not load its settings', err));
    }

    const showPanel = (): Panel => {
      // In JupyterLab the wide view answers when it is the widget in focus; else the sidebar.
      if (mainPanel && !mainPanel.isDisposed && labShell?.currentWidget === mainPanel) {
        labShell.activateById(mainPanel.id);
        return mainPanel;
      }
      app.shell.activateById(PANEL_ID);
      return panel;
    };

    app.commands.addCommand(CommandIDs.show, {
      label: 'Show jaxinspect',
      caption: 'Show the jaxinspect sidebar',
      icon: jaxinspectIcon,
      execute: () => {
        showPanel();
      }
    });
    const commands = [CommandIDs.show];
    for (const tab of tabs.tabs) {
      const id = CommandIDs.showTab(tab.id);
      app.commands.addCommand(id, {
        label: `jaxinspect: Show ${tab.label}`,
        caption: `Show the jaxinspect ${tab.label} tab`,
        execute: () => {
          showPanel().select(tab.id);
        }
      });
      commands.push(id);
    }
    if (labShell) {
      app.commands.addCommand(CommandIDs.openMain, {
        label: 'Open jaxinspect in main area',
        caption: 'A wide view of the jaxinspect tabs beside the notebook, following it',
        icon: jaxinspectIcon,
        execute: () => openInMainArea()
      });
      commands.push(CommandIDs.openMain);
    }
    if (palette) {
      for (const command of commands) {
        palette.addItem({ command, category: 'jaxinspect' });
      }
    }
  }
};

export default plugin;
