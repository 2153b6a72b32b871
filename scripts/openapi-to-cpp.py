#!/usr/bin/env python3
"""Build step (api/CMakeLists.txt): docs/openapi.yaml -> a C++ source that
defines agentmem::api::openapi_json() (api/openapi.hpp), the document as
compact JSON. Fails on invalid YAML, on a document that is not an OpenAPI
3.1 object, and on YAML values JSON cannot carry (dates, binary).

usage: openapi-to-cpp.py IN.yaml OUT.cpp
"""
import json
import sys

import yaml  # Debian python3-yaml (scripts/install-deps.sh)


class NoDates(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: 2024-05-01 stays a string."""


NoDates.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=NoDates)
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
        sys.exit(f"{src}: not an OpenAPI 3.1 document")
    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    delim = "openapi"
    while ")" + delim + '"' in text:
        delim += "_"
    with open(dst, "w", encoding="ascii") as f:
        f.write("// Generated from docs/openapi.yaml by scripts/openapi-to-cpp.py.\n"
                '#include "api/openapi.hpp"\n\n'
                "namespace agentmem::api {\n\n"
                "std::string_view openapi_json() {\n"
                f'  static const char text[] = R"{delim}({text}){delim}";\n'
                "  return {text, sizeof text - 1};\n"
                "}\n\n"
                "} // namespace agentmem::api\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
