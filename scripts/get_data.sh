#!/usr/bin/env bash
# Puts Fashion-MNIST where the project finds it; quick and silent when it is already there.
set -euo pipefail
DEBIAN_DIR=/usr/share/datasets/fashion-mnist
if [[ -n "${FASHION_MNIST_DIR:-}" || -f "$DEBIAN_DIR/train-images-idx3-ubyte.gz" ]]; then
  exit 0
fi
if command -v apt-get >/dev/null; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "Installing Debian's dataset-fashion-mnist (the real Fashion-MNIST files) ..."
  if ! $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
  fi
else
  echo "No apt-get here: the first run downloads Fashion-MNIST with torchvision" \
       "(or set FASHION_MNIST_DIR to a folder holding the four files)."
fi
