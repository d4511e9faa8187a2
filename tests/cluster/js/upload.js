// Uploads one file with tus-js-client (as Uppy does in a browser) and prints the receipt as JSON.
// usage: node upload.js ENDPOINT TOKEN FILE SHA256 CHUNK_BYTES
const fs = require("fs");
const tus = require("tus-js-client");

const [endpoint, token, file, sha256, chunk] = process.argv.slice(2);
const size = fs.statSync(file).size;
let receipt = null;
const upload = new tus.Upload(fs.createReadStream(file), {
  endpoint,
  uploadSize: size,
  chunkSize: Number(chunk),
  retryDelays: [0, 500, 1000, 2000, 3000, 5000],
  headers: { Authorization: `Bearer ${token}` },
  metadata: {
    filename: "DSJ077_20261120_100000.mp4", device_id: "DSJ-077",
    recorded_at: "2026-11-20T10:00:00+08:00", sha256,
  },
  onAfterResponse(req, res) {
    if (res.getHeader("X-Clip-Sha256")) {
      receipt = { clip_id: res.getHeader("X-Clip-Id"), sha256: res.getHeader("X-Clip-Sha256") };
    }
  },
  onError(error) { console.error(`tus-js-client failed: ${error}`); process.exit(1); },
  onSuccess() { console.log(JSON.stringify({ url: upload.url, receipt })); },
});
upload.start();
