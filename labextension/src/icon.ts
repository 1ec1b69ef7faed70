/** The sidebar icon: a magnifier over a small graph, drawn with the theme's icon colour. */

import { LabIcon } from '@jupyterlab/ui-components';

const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="5" cy="6" r="2"/>
    <circle cx="5" cy="16" r="2"/>
    <circle cx="12" cy="11" r="2"/>
    <rect x="6.2" y="7.6" width="6" height="1.4" transform="rotate(35 6.2 7.6)"/>
    <rect x="6.6" y="13.6" width="5.6" height="1.4" transform="rotate(-35 6.6 13.6)"/>
    <path d="M16.5 12a4.5 4.5 0 1 0 2.6 8.2l2.5 2.5 1.1-1.1-2.5-2.5A4.5 4.5 0 0 0 16.5 12zm0 1.6a2.9 2.9 0 1 1 0 5.8 2.9 2.9 0 0 1 0-5.8z"/>
  </g>
</svg>`;

export const jaxinspectIcon = new LabIcon({ name: 'jaxinspect:icon', svgstr });
