"""Jobs over files: planning inputs to outputs, running one file streamed, stacking short files into one pass."""
