/** Plugin wiring: the jaxinspect sidebar follows the current notebook. */

import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { KernelConnector } from './connector';
import { jaxinspectIcon } from './icon';
import { SessionModel } from './model';
import { createDefaultTabs } from './views/builtin';
import { Panel } from './views/Panel';
import { interestParams } from './views/interest';
import type { ICompileDiff, IInterest } from './views/tabs';

export const PANEL_ID = 'jaxinspect-sidebar';

namespace CommandIDs {
  export const show = 'jaxinspect:show';
}

interface IEntry {
  model: SessionModel;
  connector: KernelConnector;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jaxinspect:plugin',
  description: 'A sidebar showing what JAX is doing in the current notebook’s kernel.',
  autoStart: true,
  requires: [INotebookTracker, ILabShell],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    labShell: ILabShell,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const entries = new Map<NotebookPanel, IEntry>();

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

    const panel = new Panel({
      tabs: createDefaultTabs(),
      actions: {
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
          entry.connector
            // only the tab's own key (`buffers` or `params`): the kernel keeps the others
            .request('interest', interestParams(interest))
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
        }
      }
    });
    panel.id = PANEL_ID;
    panel.title.icon = jaxinspectIcon;
    panel.title.caption = 'jaxinspect';
    labShell.add(panel, 'right', { rank: 600 });
    if (restorer) {
      restorer.add(panel, PANEL_ID);
    }

    const entryFor = (nb: NotebookPanel): IEntry => {
      let entry = entries.get(nb);
      if (!entry) {
        const sessionContext = nb.sessionContext;
        const model = new SessionModel({ name: nb.title.label || sessionContext.path });
        const connector = new KernelConnector({ sessionContext, model });
        entry = { model, connector };
        entries.set(nb, entry);
        const onTitle = () => {
          model.name = nb.title.label || sessionContext.path;
          model.touch();
        };
        nb.title.changed.connect(onTitle);
        nb.disposed.connect(() => {
          nb.title.changed.disconnect(onTitle);
          entries.delete(nb);
          if (panel.model === model) {
            panel.model = null;
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
      panel.model = nb && !nb.isDisposed ? entryFor(nb).model : null;
    };
    tracker.currentChanged.connect(follow);
    follow();

    app.commands.addCommand(CommandIDs.show, {
      label: 'Show jaxinspect',
      caption: 'Show the jaxinspect sidebar',
      icon: jaxinspectIcon,
      execute: () => {
        labShell.activateById(PANEL_ID);
      }
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.show, category: 'jaxinspect' });
    }
  }
};

export default plugin;
