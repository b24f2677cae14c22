import { useEffect, useRef, useState } from 'preact/hooks';
import { type MoveEvent, moveEventJson } from '../moveEvent';

interface Props {
  event: MoveEvent;
  /** A sentence naming the move, such as "1,200 of lot L-7 from Growth to Platform". */
  summary: string;
  onClose: () => void;
}

/** Copies through the Clipboard API where the page may use it, else through a selection. */
async function copyText(text: string, source: HTMLElement | null): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const selection = getSelection();
  if (!source || !selection) throw new Error('copying is not available here');
  selection.selectAllChildren(source);
  const copied = document.execCommand('copy');
  if (!copied) throw new Error('copying is not available here: select the text and copy it');
}

/**
 * The exact `move` event a suggestion stands for, to copy and send. The page never sends it:
 * moving tokens stays the admin's decision, through `POST /v1/events` or the events topic.
 */
export function MoveEventDialog({ event, summary, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const code = useRef<HTMLElement>(null);
  const [status, setStatus] = useState('');
  const json = moveEventJson(event);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
  }, []);

  return (
    <dialog ref={dialog} class="move-dialog" aria-labelledby="move-title" aria-describedby="move-summary" onClose={onClose} data-move-event={event.event_id}>
      <header class="details-head">
        <h2 id="move-title">Move event to send</h2>
        <button type="button" class="icon-button" onClick={() => dialog.current?.close()} aria-label="Close">
          ✕
        </button>
      </header>
      <p id="move-summary" class="muted">
        Moves {summary}. This page does not send it: post it to <code>/v1/events</code> or publish it to the events topic.
      </p>
      <pre class="move-json" tabIndex={0} aria-label="Move event JSON">
        <code ref={code} data-move-json>
          {json}
        </code>
      </pre>
      <div class="move-actions">
        <p class="muted" role="status">
          {status}
        </p>
        <button
          type="button"
          class="button button-primary"
          onClick={() => {
            copyText(json, code.current).then(
              () => setStatus('Copied to the clipboard.'),
              (err: Error) => setStatus(`Not copied: ${err.message}`),
            );
          }}
        >
          Copy JSON
        </button>
      </div>
    </dialog>
  );
}
