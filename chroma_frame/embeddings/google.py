"""Google's Gemini embeddings: ``GoogleGeminiEmbeddingFunction`` (google-genai's, also registered as
``google_genai``) and ``GoogleGenerativeAiEmbeddingFunction`` (the older SDK's), both over the
Generative Language API's ``models/{model}:batchEmbedContents`` with an API key.

Chroma 1.5.9's classes, parameters, environment variables and persisted configs, without Google's
packages. Vertex AI (``vertexai=True``) authenticates with Google Cloud credentials, not a key: such
a function is built and persisted as in Chroma but embedding with it raises a ``ValueError``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict, List, Optional
from urllib.parse import quote

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, chunks, texts_only, vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings
from chroma_frame.version import __version__

API_BASE = "https://generativelanguage.googleapis.com/v1beta"
MAX_INPUTS_PER_REQUEST = 100  # batchEmbedContents' limit


class _GeminiAPI(HTTPEmbeddingFunction):
    """``batchEmbedContents`` for ``self.model_name`` with ``self.api_key``."""

    PROVIDER = "Google Generative Language API"
    api_base = API_BASE
    api_key: Optional[str]
    model_name: str

    def _embed(self, texts: List[str], task_type: Optional[str], dimension: Optional[int]) -> Embeddings:
        model = self.model_name if self.model_name.startswith(("models/", "tunedModels/")) \
            else f"models/{self.model_name}"
        url = f"{self.api_base}/{quote(model, safe='/')}:batchEmbedContents"
        headers = {"x-goog-api-key": str(self.api_key), "x-goog-api-client": f"chroma-frame/{__version__}"}
        out: Embeddings = []
        for part in chunks(texts, MAX_INPUTS_PER_REQUEST):
            requests = []
            for text in part:
                request: Dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
                if task_type is not None:
                    request["taskType"] = task_type
                if dimension is not None:
                    request["outputDimensionality"] = dimension
                requests.append(request)
            answer = self._post(url, {"requests": requests}, headers)
            found = answer.get("embeddings") if isinstance(answer, dict) else None
            values = [e.get("values") if isinstance(e, dict) else None for e in found] if isinstance(found, list) \
                else found
            out.extend(vectors(values, len(part), url, self.PROVIDER))
        return out


class GoogleGeminiEmbeddingFunction(_GeminiAPI):
    """Embeddings from Gemini (``gemini-embedding-001``) through the Gemini API."""

    IMMUTABLE: ClassVar[Dict[str, str]] = {"model_name": "model name", "dimension": "dimension",
                                           "vertexai": "vertexai", "project": "project", "location": "location"}

    def __init__(self, model_name: str = "gemini-embedding-001", task_type: Optional[str] = None,
                 dimension: Optional[int] = None, api_key_env_var: Optional[str] = "GEMINI_API_KEY",
                 vertexai: Optional[bool] = None, project: Optional[str] = None,
                 location: Optional[str] = None) -> None:
        self.model_name = model_name
        self.task_type = task_type
        self.dimension = dimension
        self.api_key_env_var = api_key_env_var
        self.vertexai = vertexai
        self.project = project
        self.location = location
        self.api_key = os.getenv(api_key_env_var) if api_key_env_var else None
        if self.api_key and self.vertexai:
            raise ValueError("Vertex AI and API key are mutually exclusive in the client initializer.")
        if not self.api_key and not self.vertexai:
            raise ValueError(f"The {api_key_env_var} environment variable must be set if vertexai is not enabled.")

    def __call__(self, input: Documents) -> Embeddings:
        if not input:
            raise ValueError("Input documents cannot be empty")
        if not isinstance(input, (list, tuple)):
            raise ValueError("Input must be a list or tuple of documents")
        texts = texts_only(input, "All input documents must be strings")
        if self.vertexai:
            raise ValueError("Vertex AI needs Google Cloud credentials, which chroma-frame does not implement: "
                             "use an API key (api_key_env_var) or Chroma with google-genai")
        return self._embed(texts, self.task_type, self.dimension)

    @staticmethod
    def name() -> str:
        return "google_gemini"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "GoogleGeminiEmbeddingFunction":
        if config.get("model_name") is None:
            raise ValueError("The model name is required.")
        return GoogleGeminiEmbeddingFunction(
            model_name=config["model_name"], task_type=config.get("task_type"), dimension=config.get("dimension"),
            api_key_env_var=config.get("api_key_env_var", "GEMINI_API_KEY"), vertexai=config.get("vertexai"),
            project=config.get("project"), location=config.get("location"))

    def get_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {"model_name": self.model_name, "api_key_env_var": self.api_key_env_var,
                                  "vertexai": self.vertexai, "project": self.project, "location": self.location}
        if self.task_type is not None:
            config["task_type"] = self.task_type
        if self.dimension is not None:
            config["dimension"] = self.dimension
        return config


GoogleGenaiEmbeddingFunction = GoogleGeminiEmbeddingFunction  # Chroma's backward-compatible alias


class GoogleGenerativeAiEmbeddingFunction(_GeminiAPI):
    """Embeddings from the Gemini API, as Chroma's ``google-generativeai`` based class."""

    IMMUTABLE: ClassVar[Dict[str, str]] = {"model_name": "model name", "task_type": "task type",
                                           "dimension": "dimension"}

    def __init__(self, api_key: Optional[str] = None, model_name: str = "gemini-embedding-001",
                 task_type: str = "RETRIEVAL_DOCUMENT", api_key_env_var: str = "GEMINI_API_KEY",
                 dimension: Optional[int] = None) -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "GOOGLE_API_KEY")
        self.model_name = model_name
        self.task_type = task_type
        self.dimension = dimension

    def __call__(self, input: Documents) -> Embeddings:
        texts = texts_only(input, "Google Generative AI only supports text documents, not images")
        return self._embed(texts, self.task_type, self.dimension)

    @staticmethod
    def name() -> str:
        return "google_generative_ai"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "GoogleGenerativeAiEmbeddingFunction":
        return GoogleGenerativeAiEmbeddingFunction(
            api_key_env_var=config["api_key_env_var"], model_name=config["model_name"],
            task_type=config["task_type"], dimension=config.get("dimension"))

    def get_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name,
                                  "task_type": self.task_type}
        if self.dimension is not None:
            config["dimension"] = self.dimension
        return config
