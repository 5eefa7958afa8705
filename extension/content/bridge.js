/**
 * The isolated world's end of the bridge to the page's world, where the interception paths
 * catch the page's files (see guard.js). They send the files over a MessagePort (Files
 * cross it as they are), with which of them are photos; this end runs them through
 * `ImageProtector.protectFiles` and sends back the files to use, or null.
 */
(() => {
  if (globalThis.ImageProtectorBridge) return;
  globalThis.ImageProtectorBridge = true;
  const ports = [];

  function serve(port) {
    port.onmessage = async ({ data }) => {
      if (data?.kind !== 'protect') return;
      let files = null;
      try {
        files = await ImageProtector.protectFiles(data.files, data.photos);
      } catch (error) {
        console.error('ImageProtector:', error);
      }
      port.postMessage({ id: data.id, files });
    };
  }

  async function offer() {
    const channel = new MessageChannel();
    serve(channel.port1);
    ports.push(channel.port1);
    const state = await ImageProtector.siteState();
    window.postMessage({ imageprotector: 'bridge', enabled: state.enabled }, '*', [channel.port2]);
  }

  window.addEventListener('message', (event) => {
    if (event.source === window && event.data?.imageprotector === 'hello') offer();
  });
  chrome.storage.onChanged.addListener(async () => {
    const state = await ImageProtector.siteState();
    for (const port of ports) port.postMessage({ kind: 'state', enabled: state.enabled });
  });
  offer();
})();
