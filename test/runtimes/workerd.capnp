# workerd config for the runtime cases (test/runtimes/run.mjs). run.mjs copies it next to the
# bundled worker (worker.bundle.mjs) and sets the listening addresses on the command line
# (--socket-addr web=127.0.0.1:PORT --socket-addr web-node=127.0.0.1:PORT), loopback only.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "web", worker = .webWorker),
    (name = "web-node", worker = .nodeCompatWorker),
  ],
  sockets = [
    (name = "web", address = "127.0.0.1:0", http = (), service = "web"),
    (name = "web-node", address = "127.0.0.1:0", http = (), service = "web-node"),
  ],
);

# Web standards only: no `process`, so the core signs with jose on WebCrypto.
const webWorker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.bundle.mjs")],
  compatibilityDate = "2025-09-01",
);

# The same worker with Node.js compatibility, as many Workers deployments run.
const nodeCompatWorker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.bundle.mjs")],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
);
