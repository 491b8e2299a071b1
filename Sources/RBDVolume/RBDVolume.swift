// Placeholder: the RBDVolume module is being written.
