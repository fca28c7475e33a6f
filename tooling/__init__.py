"""The operator's tooling: the `v6migrate` CLI and its demo. It sits above the embedded AWS
(`local`) and the runtime package (`v6migrate`, the Lambda layer), and neither imports it."""
