// An app traced with HoneyHive's TypeScript SDK (npm `honeyhive`), pointed at a local collector:
// `node app.js <server_url> <session_name>`. Run by tests/test_otlp_honeyhive_node.py. A chain with
// a nested tool and model (sync and async), a caught error, enrichSpan and enrichSession; prints
// the session id once everything is flushed.
const { HoneyHiveTracer, enrichSpan } = require("honeyhive");

async function main() {
  const [serverUrl, sessionName] = process.argv.slice(2);
  const tracer = await HoneyHiveTracer.init({
    apiKey: "hh-local-key",
    project: "local",
    serverUrl,
    sessionName,
    source: "node-tests",
  });
  if (!tracer.sessionId) throw new Error("the tracer did not start");

  const add = tracer.traceTool(function add(a, b) {
    enrichSpan({ metrics: { score: 0.5 }, metadata: { step: "add" } });
    return a + b;
  });
  const fail = tracer.traceTool(function fail(reason) {
    throw new Error(reason);
  });
  const answer = tracer.traceModel(
    async function answer(question) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return { content: "42: " + question };
    },
    { eventName: "answer" },
  );
  const pipeline = tracer.traceChain(
    async function pipeline(x) {
      try {
        fail("boom");
      } catch (err) {
        // caught: the span keeps the error
      }
      const total = add(x, 2);
      const said = await answer("why?");
      return { sum: total, said: said.content };
    },
    { eventName: "pipeline" },
  );

  await tracer.trace(async () => {
    await pipeline(1);
  });
  await tracer.enrichSession({ metadata: { user: "u-1" }, feedback: { rating: 5 } });
  await tracer.flush();
  console.log("SESSION " + tracer.sessionId);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
