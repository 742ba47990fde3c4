"""Chroma 1.5.9's JSON schemas for the provider configs it persists (``schemas/embedding_functions/*.json``
in the chromadb wheel, descriptions left out): what ``validate_config`` checks, with
:func:`chroma_frame.embeddings.http_provider.check_config`."""

import json
from typing import Any, Dict

SCHEMAS: Dict[str, Dict[str, Any]] = json.loads(r"""{
 "cohere": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false},
 "jina": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "task": {"type": ["string", "null"]},
  "late_chunking": {"type": ["boolean", "null"]},
  "truncate": {"type": ["boolean", "null"]},
  "dimensions": {"type": ["integer", "null"]},
  "embedding_type": {"type": ["string", "null"]},
  "normalized": {"type": ["boolean", "null"]},
  "query_config": {"type": ["object", "null"]}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false},
 "voyageai": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "input_type": {"type": ["string", "null"]},
  "truncation": {"type": "boolean"}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false},
 "mistral": {"type": "object", "properties": {
  "model": {"type": "string"},
  "api_key_env_var": {"type": "string"}
 }, "required": ["api_key_env_var", "model"], "additionalProperties": false},
 "google_gemini": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "task_type": {"type": "string"},
  "dimension": {"type": "integer"},
  "api_key_env_var": {"type": ["string", "null"]},
  "vertexai": {"type": ["boolean", "null"]},
  "project": {"type": ["string", "null"]},
  "location": {"type": ["string", "null"]}
 }, "required": ["model_name"], "additionalProperties": false},
 "google_generative_ai": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "task_type": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "dimension": {"type": "integer"}
 }, "required": ["api_key_env_var", "model_name", "task_type"], "additionalProperties": false},
 "huggingface": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false},
 "huggingface_server": {"type": "object", "properties": {
  "url": {"type": "string"},
  "api_key_env_var": {"type": ["string", "null"]}
 }, "required": ["url"], "additionalProperties": false},
 "together_ai": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false},
 "cloudflare_workers_ai": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "account_id": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "gateway_id": {"type": ["string", "null"]}
 }, "required": ["api_key_env_var", "model_name", "account_id"], "additionalProperties": false},
 "amazon_bedrock": {"type": "object", "properties": {
  "session_args": {"type": "object"},
  "model_name": {"type": "string"},
  "kwargs": {"type": "object"}
 }, "required": ["session_args", "model_name", "kwargs"], "additionalProperties": false},
 "baseten": {"type": "object", "properties": {
  "api_base": {"type": "string"},
  "api_key_env_var": {"type": "string"}
 }, "required": ["api_base", "api_key_env_var"], "additionalProperties": false},
 "nomic": {"type": "object", "properties": {
  "model": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "task_type": {"type": "string"}
 }},
 "morph": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "api_base": {"type": ["string", "null"]},
  "encoding_format": {"type": ["string", "null"]}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false},
 "chroma-cloud-qwen": {"type": "object", "properties": {
  "model": {"type": "string", "enum": ["Qwen/Qwen3-Embedding-0.6B"]},
  "task": {"type": ["string", "null"]},
  "instructions": {
   "type": "object",
   "properties": {
    "nl_to_code": {
     "type": "object",
     "properties": {
      "documents": {
       "type": "string"
      },
      "query": {
       "type": "string"
      }
     },
     "required": [
      "documents",
      "query"
     ],
     "additionalProperties": false
    }
   },
   "required": [
    "nl_to_code"
   ],
   "additionalProperties": false
  },
  "api_key_env_var": {"type": "string"}
 }, "required": ["model", "task"], "additionalProperties": false},
 "roboflow": {"type": "object", "properties": {
  "api_url": {"type": "string"},
  "api_key_env_var": {"type": "string"}
 }, "required": ["api_key_env_var", "api_url"], "additionalProperties": false},
 "chroma-cloud-splade": {"type": "object", "properties": {
  "model": {"type": "string", "enum": ["prithivida/Splade_PP_en_v1"]},
  "api_key_env_var": {"type": "string"},
  "include_tokens": {"type": "boolean"}
 }, "required": ["api_key_env_var", "model"], "additionalProperties": false},
 "open_clip": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "checkpoint": {"type": "string"},
  "device": {"type": ["string", "null"]}
 }, "required": ["model_name", "checkpoint", "device"], "additionalProperties": false},
 "perplexity": {"type": "object", "properties": {
  "model_name": {"type": "string"},
  "api_key_env_var": {"type": "string"},
  "dimensions": {"type": "number"}
 }, "required": ["api_key_env_var", "model_name"], "additionalProperties": false}
}""")
