/** The popup's and options page's way to call the service worker's handler table. */

export class ActionError extends Error {
  constructor({ code, message }) {
    super(message);
    this.code = code;
  }
}

/** `{action, args}` to the service worker; the result, or an ActionError. */
export async function ask(action, args = {}) {
  const answer = await chrome.runtime.sendMessage({ action, args });
  if (!answer?.ok) throw new ActionError(answer?.error ?? { code: 'failed', message: 'no answer' });
  return answer.result;
}
