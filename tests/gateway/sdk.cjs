// sdk.cjs: the official, unmodified `openai` and `@anthropic-ai/sdk` clients
// against an OpenAI/Anthropic-compatible endpoint (the model gateway, or
// caisson-llm-replay itself), for tests/test_gateway.c (issue 16). CommonJS
// with no build step, so it also runs inside a sandbox from a copied
// node_modules.
//
//   node sdk.cjs MODE [--base URL] [--key K] [--model M] [--amodel M]
//                [--task T] [--text T] [--out N] [--max-tokens N]
//                [--retries N] [--api openai|anthropic] [--stream]
//                [--status N] [--code C] [--n N]
//
// --base is the gateway's root (http://host:port): OpenAI's clients get
// BASE/v1, Anthropic's BASE; without it (and --key) the clients read
// OPENAI_BASE_URL/OPENAI_API_KEY and ANTHROPIC_BASE_URL/ANTHROPIC_API_KEY,
// as any program would. Modes (each prints ONE JSON line, exit 0 when it
// holds, 1 when not):
//   all        chat whole and streamed (with and without include_usage),
//              embeddings, models.list, messages whole and streamed: text
//              (--text, else non-empty) and output usage (--out) checked
//   call       one call (--api, --stream): {ok, text, usage, headers}
//   error      one call expected to fail with --status and --code (OpenAI
//              `code`, Anthropic `error.type`): {ok, status, code, type,
//              message, retryAfter, headers}
//   concurrent --n calls at once (Promise.all), maxRetries --retries
//              (default 0): {ok, succeeded, outTokens, refused: {"402
//              budget_exceeded": n, ...}, messages: [first of each kind]}
'use strict';

const path = require('path');

// The SDKs from NODE_PATH, else tests/agui/node_modules (bootstrap's npm ci);
// missing, one JSON line says so.
function load(name) {
  const paths = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
  paths.push(path.join(__dirname, '..', 'agui', 'node_modules'));
  try {
    return require(require.resolve(name, { paths }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, failures: [`cannot load ${name} from ${paths.join(
      ', ')}: run npm ci in tests/agui (scripts/bootstrap does): ${e.message}`] }));
    process.exit(3);
  }
}
const OpenAI = load('openai');
const Anthropic = load('@anthropic-ai/sdk');

function args(argv) {
  const a = { mode: argv[0] || 'all', stream: false };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'stream') a.stream = true;
    else a[k] = argv[++i];
  }
  a.model = a.model || 'replay/t';
  a.amodel = a.amodel || 'replay-anthropic/t';
  a.task = a.task || 'gateway: answer with fifty tokens';
  a.maxTokens = Number(a['max-tokens'] || 100);
  a.retries = a.retries === undefined ? undefined : Number(a.retries);
  return a;
}

function clients(a, retries) {
  const o = { maxRetries: retries === undefined ? a.retries : retries, timeout: 60000 };
  const oa = { ...o }, an = { ...o };
  if (a.base) {
    oa.baseURL = a.base.replace(/\/$/, '') + '/v1';
    an.baseURL = a.base.replace(/\/$/, '');
  }
  if (a.key) oa.apiKey = an.apiKey = a.key;
  for (const x of [oa, an]) if (x.maxRetries === undefined) delete x.maxRetries;
  return { openai: new OpenAI(oa), anthropic: new Anthropic(an) };
}

function header(h, name) {
  return h && typeof h.get === 'function' ? h.get(name) : h ? h[name] : undefined;
}

// One call of api, streamed or not: {text, usage: {in, out}, headers}.
async function call(c, a, api, stream, includeUsage) {
  const msgs = [{ role: 'user', content: a.task }];
  if (api === 'openai') {
    const body = { model: a.model, messages: msgs, max_tokens: a.maxTokens };
    if (!stream) {
      const { data, response } = await c.openai.chat.completions.create(body).withResponse();
      const u = data.usage || {};
      return { text: data.choices[0].message.content, headers: response.headers,
               usage: { in: u.prompt_tokens, out: u.completion_tokens },
               object: data.object };
    }
    const p = { ...body, stream: true };
    if (includeUsage) p.stream_options = { include_usage: true };
    const { data: s, response } = await c.openai.chat.completions.create(p).withResponse();
    let text = '', usage = null, emptyChoices = 0;
    for await (const chunk of s) {
      if (chunk.usage) usage = { in: chunk.usage.prompt_tokens, out: chunk.usage.completion_tokens };
      if (!chunk.choices.length) emptyChoices++;
      else text += chunk.choices[0].delta.content || '';
    }
    return { text, usage, emptyChoices, headers: response.headers };
  }
  const body = { model: a.amodel, max_tokens: a.maxTokens, messages: msgs };
  if (!stream) {
    const { data, response } = await c.anthropic.messages.create(body).withResponse();
    return { text: data.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
             usage: { in: data.usage.input_tokens, out: data.usage.output_tokens },
             headers: response.headers, object: data.type };
  }
  const { data: s, response } = await c.anthropic.messages.create({ ...body, stream: true })
    .withResponse();
  let text = '', usage = { in: undefined, out: undefined };
  for await (const ev of s) {
    if (ev.type === 'message_start') usage.in = ev.message.usage && ev.message.usage.input_tokens;
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta' && ev.usage) usage.out = ev.usage.output_tokens;
  }
  return { text, usage, headers: response.headers };
}

// What a refusal or provider error says: {status, code, type, message, retryAfter}.
function failure(e) {
  const body = e.error || {};
  const inner = body.error && typeof body.error === 'object' ? body.error : body;
  return {
    status: e.status === undefined ? null : e.status,
    code: e.code || inner.code || inner.type || null,
    type: e.type || inner.type || null,
    message: inner.message || e.message,
    retryAfter: header(e.headers, 'retry-after') || null,
    budget: header(e.headers, 'x-caisson-budget') || null,
    budgetReset: header(e.headers, 'x-caisson-budget-reset') || null,
    name: e.constructor && e.constructor.name,
  };
}

async function modeAll(a) {
  const c = clients(a);
  const r = {}, bad = [];
  const check = (name, x, wantUsage) => {
    r[name] = { text: x.text, usage: x.usage };
    if (a.text ? x.text !== a.text : !x.text) bad.push(`${name}: text ${JSON.stringify(x.text)}`);
    if (wantUsage && a.out && (!x.usage || x.usage.out !== Number(a.out)))
      bad.push(`${name}: usage ${JSON.stringify(x.usage)}, want out ${a.out}`);
  };
  const whole = await call(c, a, 'openai', false);
  check('chatWhole', whole, true);
  if (whole.object !== 'chat.completion') bad.push(`chatWhole: object ${whole.object}`);
  const su = await call(c, a, 'openai', true, true);
  check('chatStreamUsage', su, true);
  const sn = await call(c, a, 'openai', true, false);
  check('chatStream', sn, false);
  // a client that did not ask for usage gets no usage-only chunk
  if (sn.usage || sn.emptyChoices) bad.push(`chatStream: unasked usage ${JSON.stringify(sn.usage)}`);
  const em = await c.openai.embeddings.create({ model: a.model, input: a.task });
  const v = em.data[0].embedding;
  const norm = v.reduce((s, x) => s + x * x, 0);
  r.embeddings = { dims: v.length, norm, usage: em.usage };
  if (!v.length || Math.abs(norm - 1) > 1e-3) bad.push(`embeddings: norm ${norm} of ${v.length}`);
  const models = [];
  for await (const m of c.openai.models.list()) models.push(m.id);
  r.models = models;
  if (!models.includes(a.model)) bad.push(`models: ${a.model} not in ${JSON.stringify(models)}`);
  check('messagesWhole', await call(c, a, 'anthropic', false), true);
  check('messagesStream', await call(c, a, 'anthropic', true), true);
  return { ok: bad.length === 0, failures: bad, results: r };
}

async function modeCall(a) {
  const x = await call(clients(a), a, a.api || 'openai', a.stream, true);
  const h = {};
  for (const k of ['x-caisson-call', 'x-ratelimit-limit-requests',
                   'x-ratelimit-remaining-requests', 'x-caisson-max-tokens'])
    if (header(x.headers, k)) h[k] = header(x.headers, k);
  return { ok: a.text ? x.text === a.text : !!x.text, text: x.text, usage: x.usage, headers: h };
}

async function modeError(a) {
  try {
    const x = await call(clients(a), a, a.api || 'openai', a.stream, true);
    return { ok: false, unexpected: 'success', text: x.text };
  } catch (e) {
    const f = failure(e);
    const ok = (!a.status || f.status === Number(a.status)) && (!a.code || f.code === a.code);
    return { ok, ...f };
  }
}

async function modeConcurrent(a) {
  const n = Number(a.n || 100);
  const c = clients(a, a.retries === undefined ? 0 : a.retries);
  const out = await Promise.all(Array.from({ length: n }, () =>
    call(c, a, a.api || 'openai', a.stream, true).then((x) => ({ x }), (e) => ({ e }))));
  const refused = {}, messages = {};
  let succeeded = 0, outTokens = 0, inTokens = 0;
  for (const o of out) {
    if (o.x) {
      succeeded++;
      outTokens += (o.x.usage && o.x.usage.out) || 0;
      inTokens += (o.x.usage && o.x.usage.in) || 0;
      continue;
    }
    const f = failure(o.e);
    const k = `${f.status} ${f.code}`;
    refused[k] = (refused[k] || 0) + 1;
    if (!messages[k]) messages[k] = { message: f.message, budget: f.budget, reset: f.budgetReset };
  }
  return { ok: true, n, succeeded, outTokens, inTokens, refused, messages };
}

const modes = { all: modeAll, call: modeCall, error: modeError, concurrent: modeConcurrent };

async function main() {
  const a = args(process.argv.slice(2));
  const fn = modes[a.mode];
  if (!fn) {
    console.log(JSON.stringify({ ok: false, failures: [`unknown mode ${a.mode}`] }));
    return 2;
  }
  let res;
  try {
    res = await fn(a);
  } catch (e) {
    res = { ok: false, failures: [`${a.mode}: ${e.constructor.name}: ${e.message}`],
            error: failure(e) };
  }
  console.log(JSON.stringify(res));
  return res.ok ? 0 : 1;
}

main().then((rc) => { process.exitCode = rc; });
