"""Custom NLU parts: normaliser, classifiers, place extractor."""
