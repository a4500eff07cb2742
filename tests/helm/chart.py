"""Lint and install the chart with helm-sdkpy (Helm 4's library), for tests/e2e_helm.rs.

    python chart.py lint CHART
    python chart.py install CHART RELEASE NAMESPACE VALUES_JSON     (KUBECONFIG from the environment)

Prints one JSON object on stdout; exits 1 on failure with the error on stderr.
"""
import asyncio
import json
import os
import sys

import helm_sdkpy


async def main(argv):
    command, chart = argv[1], argv[2]
    if command == "lint":
        config = helm_sdkpy.Configuration(namespace="default")
        result = await helm_sdkpy.Lint(config).run(chart)
        print(json.dumps(result, default=str))
        return
    release, namespace, values = argv[3], argv[4], json.loads(argv[5])
    config = helm_sdkpy.Configuration(namespace=namespace, kubeconfig=os.environ["KUBECONFIG"])
    result = await helm_sdkpy.Install(config).run(
        release, chart, values=values, create_namespace=True, wait=False, timeout=120, take_ownership=True
    )
    print(json.dumps({"name": result.get("name") if isinstance(result, dict) else None}, default=str))


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv))
    except Exception as error:  # reported to the Rust test
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
