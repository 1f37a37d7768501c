/** Decorative icons (aria-hidden): every meaning they carry is also in text. */
const icon = (d: string) => () => (
  <svg class="icon" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">
    <path d={d} fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
  </svg>
);

export const KeyIcon = icon("M15 7a3 3 0 1 1-2.6 4.5L4 20l-1-1 1-1 1.5 1.5L7 18l-1.5-1.5L9 13l.5-.5A3 3 0 0 1 15 7z");
export const CopyIcon = icon("M8 8h11v11H8zM5 16H4V4h12v1");
export const CheckIcon = icon("M5 12l5 5L20 7");
export const ClockIcon = icon("M12 7v5l3 2M21 12a9 9 0 1 1-18 0 9 9 0 0 1 18 0z");
export const AlertIcon = icon("M12 8v5M12 16h.01M10.3 3.9L2 18a2 2 0 0 0 1.7 3h16.6a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z");
export const PlusIcon = icon("M12 5v14M5 12h14");
export const RotateIcon = icon("M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7");
export const TrashIcon = icon("M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3");
export const ChartIcon = icon("M3 17l5-6 4 3 5-7 4 4");
export const DownloadIcon = icon("M12 4v11M7 10l5 5 5-5M5 20h14");
export const DotIcon = () => (
  <svg class="icon dot" viewBox="0 0 24 24" width="10" height="10" aria-hidden="true" focusable="false">
    <circle cx="12" cy="12" r="6" fill="currentColor" />
  </svg>
);
