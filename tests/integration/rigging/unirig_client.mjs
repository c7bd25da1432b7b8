// The contract's TypeScript `UniRigClient`, its types stripped (Node runs JavaScript), run
// against the live API: `node unirig_client.mjs <base url> <model.obj>` prints the final job.
// Node's fetch keeps no cookies; the wrapper below is the browser's cookie jar for one origin,
// so the class itself runs unchanged.
import { readFileSync } from 'node:fs';

const jar = new Map();
const browserFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const headers = new Headers(init.headers || {});
  if (init.credentials === 'include' && jar.size) {
    headers.set('Cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
  }
  const response = await browserFetch(url, { ...init, headers });
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const at = pair.indexOf('=');
    jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  return response;
};

class UniRigClient {
  baseUrl;
  csrfToken = null;

  constructor(baseUrl = 'http://localhost/api') {
    this.baseUrl = baseUrl;
  }

  async init() {
    const response = await fetch(`${this.baseUrl}/csrf-token`, {
      credentials: 'include'
    });
    const data = await response.json();
    this.csrfToken = data.csrf_token;
  }

  async uploadFile(file) {
    const formData = new FormData();
    formData.append('file', file);

    const response = await fetch(`${this.baseUrl}/upload`, {
      method: 'POST',
      headers: {
        'X-CSRF-Token': this.csrfToken
      },
      body: formData,
      credentials: 'include'
    });

    if (!response.ok) {
      throw new Error(`Upload failed: ${response.statusText}`);
    }

    return response.json();
  }

  async createSkeletonJob(inputFile) {
    const response = await fetch(`${this.baseUrl}/jobs/skeleton`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-CSRF-Token': this.csrfToken
      },
      body: JSON.stringify({ input_file: inputFile }),
      credentials: 'include'
    });

    if (!response.ok) {
      throw new Error(`Job creation failed: ${response.statusText}`);
    }

    return response.json();
  }

  async getJobStatus(jobId) {
    const response = await fetch(`${this.baseUrl}/jobs/${jobId}`, {
      credentials: 'include'
    });

    if (!response.ok) {
      throw new Error(`Failed to get job status: ${response.statusText}`);
    }

    return response.json();
  }

  async waitForJob(
    jobId,
    onProgress,
    pollInterval = 5000
  ) {
    while (true) {
      const job = await this.getJobStatus(jobId);

      if (onProgress) {
        onProgress(job.progress);
      }

      if (['completed', 'failed', 'cancelled'].includes(job.status)) {
        return job;
      }

      await new Promise(resolve => setTimeout(resolve, pollInterval));
    }
  }
}

// Usage, as the contract's (a File from bytes instead of an <input>; a short poll).
const [baseUrl, modelPath] = process.argv.slice(2);
const client = new UniRigClient(baseUrl);
await client.init();

const file = new File([readFileSync(modelPath)], 'character.obj');

const uploadResult = await client.uploadFile(file);
const job = await client.createSkeletonJob(uploadResult.path);

const seen = [];
const finalJob = await client.waitForJob(job.job_id, (progress) => {
  seen.push(progress);
}, 100);

console.log(JSON.stringify({ finalJob, seen }));
