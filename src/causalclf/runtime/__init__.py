"""How the transformer methods run their models, whatever the method: texts to padded batches (`batching`),
batches without padding with attention per text (`packing`), and the lean inference copy (`lean`)."""
