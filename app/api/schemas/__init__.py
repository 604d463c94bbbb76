"""The API's models: one set of pydantic 2 classes validates requests, checks responses and
generates the OpenAPI document (through spectree, `endpoint.py`). One module per resource group;
`base.py` holds the query-string and body value types."""
