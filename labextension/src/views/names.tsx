/** Kernel text whose `quoted` names stay whole in a narrow sidebar (React text only). */

import * as React from 'react';

import { splitNames } from './format';

/**
 * `text` with each backtick-quoted name in its own span: words wrap between themselves, a name
 * is never broken; one wider than the sidebar ends in an ellipsis and shows whole in its tooltip.
 */
export function NamedText(props: { text: string }): React.ReactElement {
  const parts = splitNames(props.text);
  return (
    <>
      {parts.map((p, i) =>
        p.code ? (
          <code key={i} className="jp-JaxInspect-name" title={p.text}>
            {p.text}
          </code>
        ) : (
          <React.Fragment key={i}>{p.text}</React.Fragment>
        )
      )}
    </>
  );
}
