// Placeholder: the BlockMount module is being written.
