/**
 * The tab strip's icons: 16 px inline SVG drawn in `currentColor`, so they follow the theme and the
 * tab's state (dim, hovered, current) like its text.
 */

import * as React from 'react';

const stroke = {
  fill: 'none',
  stroke: 'currentColor',
  strokeWidth: 1.4,
  strokeLinecap: 'round' as const,
  strokeLinejoin: 'round' as const
};

function Svg(props: { children: React.ReactNode }): React.ReactElement {
  return (
    <svg
      className="jp-JaxInspect-tabIcon"
      width="16"
      height="16"
      viewBox="0 0 16 16"
      aria-hidden="true"
      focusable="false"
    >
      {props.children}
    </svg>
  );
}

/** Overview: an "i" in a circle. */
export function OverviewIcon(): React.ReactElement {
  return (
    <Svg>
      <circle cx="8" cy="8" r="6.3" {...stroke} />
      <path d="M8 7.2v4.3" {...stroke} />
      <circle cx="8" cy="4.9" r="0.9" fill="currentColor" />
    </Svg>
  );
}

/** Compiles: a lightning bolt (a compile is the slow, sudden thing). */
export function CompilesIcon(): React.ReactElement {
  return (
    <Svg>
      <path d="M9.2 1.5 3.6 9h4l-1 5.5L12.4 7H8.3z" {...stroke} />
    </Svg>
  );
}

/** Buffers: a memory chip. */
export function BuffersIcon(): React.ReactElement {
  return (
    <Svg>
      <rect x="4" y="4" width="8" height="8" rx="1" {...stroke} />
      <path
        d="M6 1.8V4M8 1.8V4M10 1.8V4M6 12v2.2M8 12v2.2M10 12v2.2M1.8 6H4M1.8 8H4M1.8 10H4M12 6h2.2M12 8h2.2M12 10h2.2"
        {...stroke}
        strokeWidth={1.1}
      />
    </Svg>
  );
}

/** Params: three sliders. */
export function ParamsIcon(): React.ReactElement {
  return (
    <Svg>
      <path d="M2 4h12M2 8h12M2 12h12" {...stroke} strokeWidth={1.1} />
      <circle cx="5" cy="4" r="1.7" fill="currentColor" />
      <circle cx="10.5" cy="8" r="1.7" fill="currentColor" />
      <circle cx="7" cy="12" r="1.7" fill="currentColor" />
    </Svg>
  );
}

/** Keys: a key. */
export function KeysIcon(): React.ReactElement {
  return (
    <Svg>
      <circle cx="4.8" cy="8" r="2.9" {...stroke} />
      <path d="M7.7 8h6.6M12.2 8v2.8M14.3 8v2.2" {...stroke} />
    </Svg>
  );
}

/** Processes: two stacked hosts. */
export function ProcessesIcon(): React.ReactElement {
  return (
    <Svg>
      <rect x="1.8" y="2.2" width="12.4" height="4.6" rx="1" {...stroke} />
      <rect x="1.8" y="9.2" width="12.4" height="4.6" rx="1" {...stroke} />
      <circle cx="4.5" cy="4.5" r="0.9" fill="currentColor" />
      <circle cx="4.5" cy="11.5" r="0.9" fill="currentColor" />
    </Svg>
  );
}

/** A tab without an icon of its own: its label's first letter in a rounded square. */
export function LetterIcon(props: { label: string }): React.ReactElement {
  const letter = (props.label.trim()[0] ?? '?').toUpperCase();
  return (
    <Svg>
      <rect x="1.5" y="1.5" width="13" height="13" rx="3" {...stroke} />
      <text
        x="8"
        y="11.5"
        textAnchor="middle"
        fontSize="9"
        fontWeight="600"
        fill="currentColor"
        fontFamily="sans-serif"
      >
        {letter}
      </text>
    </Svg>
  );
}
