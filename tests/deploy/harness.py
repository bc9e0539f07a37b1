"""The deploy tests' harness: a private AWS account (a moto server) and a local front for a deployed web
package (HTTP -> the API Gateway proxy event -> Zappa's handler in the unzipped package, read-only,
as Lambda runs it).

moto 5.2.5 has no ``ListFunctionUrlConfigs`` route (a 404), which ``zappa update`` calls on every
update to remove a function URL the stage does not use. AWS answers it with the function's URL
configs (``GET /2021-10-31/functions/{name}/urls``); ``add_list_function_url_configs`` adds that
route to the private server, answering from moto's own function URL records, so ``zappa update``
runs on to its event sources and schedules."""
from __future__ import annotations

import base64
import json
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from devstack import lambda_local

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


def add_list_function_url_configs() -> None:
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    if hasattr(LambdaResponse, "list_function_url_configs"):
        return

    def list_function_url_configs(self):
        name = unquote(self.path.split("?")[0].rstrip("/").split("/")[-2])
        config = getattr(self.backend.get_function(name, None), "url_config", None)
        return 200, {}, json.dumps({"FunctionUrlConfigs": [config.to_dict()] if config else []})

    LambdaResponse.list_function_url_configs = list_function_url_configs
    urls.url_paths[r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/urls/?$"] = \
        LambdaResponse.dispatch


@dataclass
class Account:
    endpoint: str

    def client(self, service: str):
        import boto3

        return boto3.session.Session().client(service, endpoint_url=self.endpoint, region_name=REGION,
                                              aws_access_key_id="deploy", aws_secret_access_key="deploy")

    def clients(self) -> Callable[[str], object]:
        cache: dict[str, object] = {}

        def get(service: str):
            if service not in cache:
                cache[service] = self.client(service)
            return cache[service]

        return get

    def env(self) -> dict[str, str]:
        """What the deploy command's subprocesses (zappa) get instead of an operator's credentials."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "deploy", "AWS_SECRET_ACCESS_KEY": "deploy",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def lambda_environment(account: Account, pool_id: str) -> dict[str, str]:
    """Lambda's environment for the package, with the private account's endpoint instead of AWS's."""
    return lambda_local.lambda_env(
        DYNAMODB_ENDPOINT_URL=account.endpoint, MOTO_ENDPOINT_URL=account.endpoint,
        COGNITO_JWKS_URL=f"{account.endpoint}/{pool_id}/.well-known/jwks.json",  # moto serves the pool's keys here
        AWS_ACCESS_KEY_ID="function", AWS_SECRET_ACCESS_KEY="function", AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")


def unpack(zip_path: Path, target: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    return target


def api_gateway_event(*, method: str, path: str, host: str, stage: str, headers: dict, body: bytes) -> dict:
    """The REST API proxy event (payload 1.0) for ``/{stage}{path}``, as API Gateway sends it."""
    query = urlsplit(path).query
    path = urlsplit(path).path
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p) or None
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": {**headers, "Host": host, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"},
        "multiValueHeaders": {}, "queryStringParameters": params, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "body": base64.b64encode(body).decode() if body else None, "isBase64Encoded": bool(body),
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/{stage}{path}",
                           "stage": stage, "requestId": "front", "identity": {"sourceIp": "127.0.0.1"}},
    }


class Front:
    """http://127.0.0.1:<port>/<stage>/... -> one cold invocation of ``handler`` (the function's
    Handler) in the unzipped package per request (read-only filesystem), answered with the handler's
    status, headers and body."""

    def __init__(self, *, task_root: Path, env: dict[str, str], host: str, stage: str, handler: str) -> None:
        self.task_root, self.env, self.host, self.stage, self.handler = task_root, env, host, stage, handler
        self.requests: list[tuple[str, int]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's naming
                front.serve(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.stage}"

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.removeprefix(f"/{self.stage}") or "/"
        event = api_gateway_event(method=request.command, path=path, host=self.host, stage=self.stage,
                                  headers={k: v for k, v in request.headers.items() if k.lower() != "host"}, body=b"")
        outcome = lambda_local.invoke(event, task_root=self.task_root, env=self.env, handler=self.handler, timeout=120)
        response = outcome["response"]
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        self.requests.append((path, response["statusCode"]))
        request.send_response(response["statusCode"])
        for name, value in (response.get("headers") or {}).items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def __enter__(self) -> "Front":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
