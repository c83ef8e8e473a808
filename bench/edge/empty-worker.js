// Baseline (d) of bench/edge/run.sh, the ceiling: a worker that answers every request at once.
export default {
  fetch() {
    return new Response("ok");
  },
};
