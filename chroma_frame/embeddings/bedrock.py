"""``AmazonBedrockEmbeddingFunction``: Bedrock runtime's ``POST /model/{modelId}/invoke``, one text per
call, signed with AWS Signature V4 by botocore.

Chroma 1.5.9's class, parameters (a boto3 ``session``, ``model_name``, client ``**kwargs``) and
persisted config (``session_args``, ``kwargs``). Needs boto3 (an optional dependency, as in Chroma):
the session supplies credentials and region; botocore signs; the request goes through
:mod:`.transport`. ``kwargs`` understood: ``region_name`` and ``endpoint_url`` (as boto3's client).
"""

from __future__ import annotations

import json
from typing import Any, Dict
from urllib.parse import quote

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings, Space

BOTO3_MISSING = "The boto3 python package is not installed. Please install it with `pip install boto3`"


class AmazonBedrockEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Amazon Bedrock (Titan and other text embedding models)."""

    PROVIDER = "Amazon Bedrock"

    def __init__(self, session: Any, model_name: str = "amazon.titan-embed-text-v1", **kwargs: Any) -> None:
        self.model_name = model_name
        for key, value in kwargs.items():
            if not isinstance(value, (str, int, float, bool, list, dict, tuple)):
                raise ValueError(f"Keyword argument {key} is not a primitive type")
        self.kwargs = kwargs
        self._session_args: Dict[str, Any] = {}
        if getattr(session, "region_name", None):
            self._session_args["region_name"] = session.region_name
        if getattr(session, "profile_name", None):
            self._session_args["profile_name"] = session.profile_name
        self._session = session

    def _endpoint(self) -> tuple[str, str]:
        region = self.kwargs.get("region_name") or getattr(self._session, "region_name", None)
        if not region:
            raise ValueError("Amazon Bedrock needs a region: give the session a region_name "
                             "(or AWS_DEFAULT_REGION), or pass region_name=...")
        base = self.kwargs.get("endpoint_url") or f"https://bedrock-runtime.{region}.amazonaws.com"
        return f"{str(base).rstrip('/')}/model/{quote(self.model_name, safe='')}/invoke", str(region)

    def _signed_headers(self, url: str, region: str, body: bytes) -> Dict[str, str]:
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
        except ImportError:
            raise ValueError(BOTO3_MISSING) from None
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ValueError("Amazon Bedrock: the boto3 session has no AWS credentials")
        request = AWSRequest(method="POST", url=url, data=body,
                             headers={"Accept": "application/json", "Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "bedrock", region).add_auth(request)
        return dict(request.headers.items())

    def __call__(self, input: Documents) -> Embeddings:
        url, region = self._endpoint()
        found = []
        for text in input:
            body = json.dumps({"inputText": text}).encode("utf-8")
            answer = self._post(url, {}, self._signed_headers(url, region, body), data=body)
            found.append(answer.get("embedding") if isinstance(answer, dict) else None)
        return vectors(found, len(found), url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "amazon_bedrock"

    def default_space(self) -> Space:
        return "l2"  # Chroma's class keeps the protocol's default

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "AmazonBedrockEmbeddingFunction":
        try:
            import boto3
        except ImportError:
            raise ValueError(BOTO3_MISSING) from None
        session_args = config.get("session_args")
        session = boto3.Session() if session_args is None else boto3.Session(**session_args)
        return AmazonBedrockEmbeddingFunction(session=session, model_name=config["model_name"],
                                              **config.get("kwargs", {}))

    def get_config(self) -> Dict[str, Any]:
        return {"model_name": self.model_name, "session_args": self._session_args, "kwargs": self.kwargs}
