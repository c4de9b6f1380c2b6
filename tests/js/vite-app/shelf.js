// A product shelf ranked by fewclick/react's useReranker, written without JSX (no React plugin
// needed). Shared by the browser page (react-main.js) and the server-rendering check in Node.
import { createElement as h } from 'react';
import { useReranker } from 'fewclick/react';

/** The hook's latest return value, for the checks. */
export const seen = { hook: null, renders: 0 };

export function Shelf({ model, results, options }) {
  const hook = useReranker(model, results, options);
  seen.hook = hook;
  seen.renders++;
  return h(
    'ol',
    { id: 'shelf', 'data-status': hook.status },
    hook.ranked.map((id) => h('li', { key: id, 'data-id': id, onClick: () => hook.record({ item: id, type: 'click' }) }, id)),
  );
}
