//! What can be wrong with a kernel image or its boot configuration.
//!
//! Every message names the kernel file, the field or structure at fault and what is wrong
//! with it, so that a user can fix the image (or the machine's RAM size) without a debugger.

use super::Protocol;

/// A kernel image that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The file has no bytes at all.
    #[error("{file}: the kernel file is empty (0 bytes); expected a multiboot or multiboot2 kernel")]
    EmptyFile {
        /// The kernel file.
        file: String,
    },
    /// The file is larger than the machine's RAM.
    #[error(
        "{file}: the kernel file is {len} bytes, larger than the machine's RAM ({ram} bytes); \
         give the machine more memory"
    )]
    LargerThanRam {
        /// The kernel file.
        file: String,
        /// File length in bytes.
        len: u64,
        /// RAM size in bytes.
        ram: u64,
    },
    /// Neither a multiboot v1 nor a multiboot2 header magic was found.
    #[error(
        "{file}: no multiboot header found: searched the first 8192 bytes for a multiboot v1 \
         header (magic 0x1BADB002, 4-byte aligned) and the first 32768 bytes for a multiboot2 \
         header (magic 0xE85250D6, 8-byte aligned)"
    )]
    NoHeader {
        /// The kernel file.
        file: String,
    },
    /// A header magic was found but its checksum does not make the fields sum to zero.
    #[error(
        "{file}: {protocol} header at file offset {offset:#x} has a bad checksum: the \
         header's magic, flags/architecture, length and checksum fields sum to {sum:#x}, \
         the specification requires 0"
    )]
    BadChecksum {
        /// The kernel file.
        file: String,
        /// Which header.
        protocol: Protocol,
        /// File offset of the magic.
        offset: usize,
        /// The 32-bit sum that should have been zero.
        sum: u32,
    },
    /// A header field has a value the specification does not allow.
    #[error("{file}: {protocol} header field {field} = {value:#x}: {problem}")]
    BadHeaderField {
        /// The kernel file.
        file: String,
        /// Which header.
        protocol: Protocol,
        /// The field's name as the specification spells it.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Multiboot v1 flags bits 0-15 that hvbench does not know (spec 3.1.2: must fail).
    #[error(
        "{file}: multiboot header flags {flags:#010x} require features hvbench does not \
         know (bits {unknown:#x}); multiboot 0.6.96 section 3.1.2 says a boot loader must \
         refuse such a kernel"
    )]
    UnsupportedFlags {
        /// The kernel file.
        file: String,
        /// The whole flags field.
        flags: u32,
        /// The unknown required bits.
        unknown: u32,
    },
    /// A multiboot2 header tag without the optional flag that hvbench cannot honour.
    #[error(
        "{file}: multiboot2 header tag type {tag_type} ({name}) at file offset {offset:#x} is \
         required (flags bit 0 clear) but hvbench cannot honour it; mark it optional or remove it"
    )]
    UnsupportedTag {
        /// The kernel file.
        file: String,
        /// The tag's type.
        tag_type: u16,
        /// The tag's name in the specification.
        name: &'static str,
        /// File offset of the tag.
        offset: usize,
    },
    /// A required information request for a tag that hvbench does not provide.
    #[error(
        "{file}: the multiboot2 information request tag requires information tag type \
         {info_type} ({name}), which hvbench does not provide; mark the request optional"
    )]
    UnsupportedInfoRequest {
        /// The kernel file.
        file: String,
        /// The requested information tag type.
        info_type: u32,
        /// Its name in the specification.
        name: &'static str,
    },
    /// Not ELF, and the header gives no load addresses either.
    #[error(
        "{file}: not an ELF file (no \\x7fELF magic) and the multiboot header has no address \
         fields (multiboot v1 flags bit 16 / multiboot2 address tag), so hvbench does not \
         know where to load it"
    )]
    NotElfNoKludge {
        /// The kernel file.
        file: String,
    },
    /// An ELF file that is not a little-endian x86 executable of the right class.
    #[error("{file}: ELF header field {field} = {value:#x}: {problem}")]
    BadElf {
        /// The kernel file.
        file: String,
        /// The ELF header field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A structure of the image runs past the end of the file.
    #[error(
        "{file}: truncated image: {what} at file offset {offset:#x}, {len:#x} bytes, extends \
         past the end of the file ({file_len:#x} bytes)"
    )]
    Truncated {
        /// The kernel file.
        file: String,
        /// Which structure ("ELF header", "ELF program header table", "ELF segment 2", ...).
        what: String,
        /// Its file offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A segment whose sizes contradict each other.
    #[error("{file}: {what}: file size {filesz:#x} is larger than memory size {memsz:#x}")]
    SegmentFileLargerThanMemory {
        /// The kernel file.
        file: String,
        /// Which segment.
        what: String,
        /// Bytes in the file.
        filesz: u64,
        /// Bytes in memory.
        memsz: u64,
    },
    /// A segment that does not lie in the machine's RAM below 4 GiB.
    #[error(
        "{file}: {what} occupies physical [{start:#x}, {end:#x}), outside the machine's low \
         RAM [0, {ram_end:#x}); multiboot kernels load below 4 GiB, give the machine more \
         memory or link the kernel lower"
    )]
    SegmentOutsideRam {
        /// The kernel file.
        file: String,
        /// Which segment.
        what: String,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// End of low RAM.
        ram_end: u64,
    },
    /// A segment in memory that the machine keeps for itself.
    #[error(
        "{file}: {what} occupies physical [{start:#x}, {end:#x}), which overlaps {area} \
         [{area_start:#x}, {area_end:#x}); hvbench does not load kernels there"
    )]
    SegmentInReservedArea {
        /// The kernel file.
        file: String,
        /// Which segment.
        what: String,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// The reserved area's name.
        area: &'static str,
        /// Its first byte.
        area_start: u64,
        /// One past its last byte.
        area_end: u64,
    },
    /// Two segments claim the same memory.
    #[error(
        "{file}: {first} [{first_start:#x}, {first_end:#x}) and {second} [{second_start:#x}, \
         {second_end:#x}) overlap in physical memory"
    )]
    SegmentsOverlap {
        /// The kernel file.
        file: String,
        /// The first segment.
        first: String,
        /// Its first byte.
        first_start: u64,
        /// One past its last byte.
        first_end: u64,
        /// The second segment.
        second: String,
        /// Its first byte.
        second_start: u64,
        /// One past its last byte.
        second_end: u64,
    },
    /// A 32-bit entry point cannot hold the kernel's entry address.
    #[error(
        "{file}: entry point {entry:#x} is not below 4 GiB; the multiboot entry runs in 32-bit \
         protected mode"
    )]
    EntryAbove4GiB {
        /// The kernel file.
        file: String,
        /// The entry address.
        entry: u64,
    },
    /// A multiboot2 kernel with an address tag but no entry address tag.
    #[error(
        "{file}: the multiboot2 header has an address tag (type 2) but no entry address tag \
         (type 3): a non-ELF image needs both"
    )]
    NoEntryAddress {
        /// The kernel file.
        file: String,
    },
    /// Modules and boot information do not fit between the kernel and the end of RAM.
    #[error(
        "{file}: the boot information and modules need {needed:#x} bytes at {start:#x}, but low \
         RAM ends at {ram_end:#x}; give the machine more memory"
    )]
    BootDataDoesNotFit {
        /// The kernel file.
        file: String,
        /// Where the allocation would start.
        start: u64,
        /// How many bytes it needs (with alignment).
        needed: u64,
        /// End of low RAM.
        ram_end: u64,
    },
    /// The configured ACPI RSDP address is not in RAM.
    #[error("ACPI RSDP address {addr:#x} given to the loader for {file} is not in RAM")]
    AcpiRsdpNotInRam {
        /// The kernel file.
        file: String,
        /// The configured address.
        addr: u64,
    },
}
