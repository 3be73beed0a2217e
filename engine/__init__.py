"""The numeric core of qabilet: item response models, scoring and adaptive testing (numpy, scipy)."""
