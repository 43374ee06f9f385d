"""Next-word prediction: the language model (`language_model`), its table (`lm_table`), its speed
against PyTorch (`lm_speed`), how much context it uses (`context_usage`)."""
