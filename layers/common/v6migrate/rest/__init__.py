"""The REST API's routes and their models, one module per concern (migrations, approvals,
waves, Slack), each a Powertools `Router` that the `api` function's handler includes; `common`
holds what they share: the caller, the answers for errors, the clients."""
