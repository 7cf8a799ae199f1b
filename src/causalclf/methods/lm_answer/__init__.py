"""How a causal LM answers a classification prompt with a label, and how the answer is read.

Shared by instruction tuning (`methods.instruction`, after SFT) and prompting
(`methods.prompting`, a frozen model, local or behind an API). An answer is produced and read
in these steps, one module each:

1. `verbalizers`: each label's word in a response ("sport", "B", "2"), how a multi-label answer
   joins them, and how free text is parsed back into labels.
2. `prompts`: the instruction, the label list, worked examples and the document (truncated on
   its own), through the tokenizer's chat template when it has one.
3. `responses`: every label's response as token segments, so that training, scoring and
   constrained decoding agree token for token.
4. `sft`: prompt + response training rows with the loss on the response only.
5. Reading the model, three ways: `label_scoring` (the log-likelihood of each label's response
   from one cached prompt encoding), `constrained` + `decoding` (greedy decoding that can only
   write a valid answer) and free greedy decoding parsed by the verbalizer.
6. `labeler`: `LMLabeler` ties a model, tokenizer, verbalizer and prompt format together.
7. `chat_api`: an OpenAI-compatible endpoint, for prompting a remote model.
"""
