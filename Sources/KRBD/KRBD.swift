// Placeholder: the KRBD module is being written.
