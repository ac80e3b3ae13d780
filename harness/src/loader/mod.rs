//! Boot loaders: multiboot v1 and multiboot2, as GRUB and QEMU -kernel load kernels.
