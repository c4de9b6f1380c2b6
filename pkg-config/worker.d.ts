// `fewclick/worker` is the Web Worker script of createWorkerReranker(); it exports nothing.
export {};
