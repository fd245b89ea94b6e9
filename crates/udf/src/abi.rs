//! The MySQL/MariaDB UDF ABI, written by hand from MySQL's `udf_registration_types.h`
//! (the same layout on MariaDB 10.x/11.x and MySQL 8.0/8.4). The only unsafe code in the
//! crate lives here: each entry point turns mysqld's pointers into safe slices, calls safe
//! code inside `catch_unwind`, and turns the result back into the C convention.
//!
//! `extension` is never read: MySQL 8 keeps charset data there and MariaDB does not.

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_ulong, c_void};
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};

use dbaudit_record::protocol::HEADER_ARGS;

use crate::auditor::{Auditor, Outcome};
use crate::call::Arg;
use crate::report;

/// `Item_result::STRING_RESULT`: asking for it in init makes the server pass every argument as text.
const STRING_RESULT: c_int = 0;

/// The size of the message buffer init may write to (`MYSQL_ERRMSG_SIZE`).
const MESSAGE_SIZE: usize = 512;

/// `UDF_ARGS`.
#[repr(C)]
pub(crate) struct UdfArgs {
    arg_count: c_uint,
    arg_type: *mut c_int,
    args: *mut *mut c_char,
    lengths: *mut c_ulong,
    maybe_null: *mut c_char,
    attributes: *mut *mut c_char,
    attribute_lengths: *mut c_ulong,
    extension: *mut c_void,
}

/// `UDF_INIT`.
#[repr(C)]
pub(crate) struct UdfInit {
    maybe_null: bool,
    decimals: c_uint,
    max_length: c_ulong,
    ptr: *mut c_char,
    const_item: bool,
    extension: *mut c_void,
}

// The layouts of udf_registration_types.h on 64-bit Linux (x86_64 and aarch64 alike: int 4
// bytes, long and pointers 8, each aligned to its size; bool and my_bool 1 byte), so that a
// field moved or retyped here fails the build instead of reading the wrong bytes in mysqld.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<UdfArgs>() == 64);
    assert!(offset_of!(UdfArgs, arg_count) == 0);
    // 4 bytes of padding: the pointers that follow are 8-aligned.
    assert!(offset_of!(UdfArgs, arg_type) == 8);
    assert!(offset_of!(UdfArgs, args) == 16);
    assert!(offset_of!(UdfArgs, lengths) == 24);
    assert!(offset_of!(UdfArgs, maybe_null) == 32);
    assert!(offset_of!(UdfArgs, attributes) == 40);
    assert!(offset_of!(UdfArgs, attribute_lengths) == 48);
    assert!(offset_of!(UdfArgs, extension) == 56);

    assert!(size_of::<UdfInit>() == 40);
    assert!(offset_of!(UdfInit, maybe_null) == 0);
    assert!(offset_of!(UdfInit, decimals) == 4);
    assert!(offset_of!(UdfInit, max_length) == 8);
    assert!(offset_of!(UdfInit, ptr) == 16);
    // 7 bytes of padding after the one-byte const_item.
    assert!(offset_of!(UdfInit, const_item) == 24);
    assert!(offset_of!(UdfInit, extension) == 32);
};

static AUDITOR: Auditor = Auditor::new();

/// Copies `text` into init's message buffer, cut to fit, NUL-terminated.
///
/// # Safety
/// `message` must point to `MESSAGE_SIZE` writable bytes, as mysqld guarantees.
unsafe fn set_message(message: *mut c_char, text: &str) {
    let len = text.len().min(MESSAGE_SIZE - 1);
    // SAFETY: the caller guarantees MESSAGE_SIZE bytes; we write len + 1 <= MESSAGE_SIZE.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), message.cast::<u8>(), len);
        *message.add(len) = 0;
    }
}

/// How many arguments are read into a buffer on the stack rather than the heap: a row call
/// of a table of up to 30 columns (header, user, conn and two sides of them) and more.
const STACK_ARGS: usize = 64;

/// Calls `f` with the arguments of one call as safe slices, valid while mysqld's `args` is;
/// on the stack, left uninitialised past the arguments, when there are up to
/// [`STACK_ARGS`] of them (as a rule: no allocation and no zeroing a row).
///
/// # Safety
/// `args` must be the `UDF_ARGS` mysqld passed to this call.
unsafe fn with_args<T>(args: *const UdfArgs, f: impl FnOnce(&[Arg]) -> T) -> T {
    // SAFETY: mysqld passes a valid UDF_ARGS.
    let count = unsafe { (*args).arg_count as usize };
    if count > STACK_ARGS {
        // SAFETY: as above.
        let args: Vec<Arg> = (0..count).map(|i| unsafe { read_arg(args, i) }).collect();
        return f(&args);
    }
    let mut buffer = [const { MaybeUninit::<Arg>::uninit() }; STACK_ARGS];
    for (i, slot) in buffer[..count].iter_mut().enumerate() {
        // SAFETY: i < arg_count, and mysqld's `args` is valid.
        slot.write(unsafe { read_arg(args, i) });
    }
    // SAFETY: the first `count` entries were written just above, and Arg (slices and an
    // Option of one) needs no drop.
    let args = unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast::<Arg>(), count) };
    f(args)
}

/// Argument `i` of one call as safe slices, valid while mysqld's `args` is.
///
/// # Safety
/// `args` must be the `UDF_ARGS` mysqld passed to this call, and `i` less than its
/// `arg_count`.
unsafe fn read_arg<'a>(args: *const UdfArgs, i: usize) -> Arg<'a> {
    // SAFETY: mysqld passes a valid UDF_ARGS whose arrays hold arg_count entries each.
    unsafe {
        let args = &*args;
        let ptr = *args.args.add(i);
        let value =
            (!ptr.is_null()).then(|| std::slice::from_raw_parts(ptr.cast::<u8>(), *args.lengths.add(i) as usize));
        let name_ptr = if args.attributes.is_null() { std::ptr::null_mut() } else { *args.attributes.add(i) };
        let name = if name_ptr.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(name_ptr.cast::<u8>(), *args.attribute_lengths.add(i) as usize)
        };
        Arg { value, name }
    }
}

/// `dbaudit_log` init: runs once per row inside a trigger, so it only checks the
/// argument count and asks for every argument as text.
///
/// # Safety
/// Called by mysqld with valid pointers.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_log_init(
    initid: *mut UdfInit,
    args: *mut UdfArgs,
    message: *mut c_char,
) -> bool {
    report::install_panic_hook();
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: mysqld passes valid UDF_INIT and UDF_ARGS; arg_type has arg_count entries.
        unsafe {
            let count = (*args).arg_count as usize;
            // Protocol 1 has more; the call itself says which protocol it follows.
            if count < HEADER_ARGS {
                return Err(format!(
                    "dbaudit_log needs at least {HEADER_ARGS} arguments (header, user, conn, then old./new. values); \
                     got {count}"
                ));
            }
            for i in 0..count {
                *(*args).arg_type.add(i) = STRING_RESULT;
            }
            (*initid).maybe_null = true;
            (*initid).const_item = false;
        }
        Ok(())
    }));
    match result {
        Ok(Ok(())) => false,
        Ok(Err(text)) => {
            // SAFETY: mysqld's message buffer is MESSAGE_SIZE bytes.
            unsafe { set_message(message, &text) };
            true
        }
        Err(_) => {
            // SAFETY: as above.
            unsafe { set_message(message, "dbaudit_log: internal error in init") };
            true
        }
    }
}

/// `dbaudit_log`: writes one record; returns its seq, or NULL.
///
/// # Safety
/// Called by mysqld with valid pointers.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_log(
    _initid: *mut UdfInit,
    args: *mut UdfArgs,
    is_null: *mut u8,
    error: *mut u8,
) -> c_longlong {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: mysqld passes the UDF_ARGS of this call; the slices die with this closure.
        unsafe { with_args(args, |args| AUDITOR.log(args)) }
    }));
    let (value, failed) = match outcome {
        Ok(Outcome::Written(seq)) => (Some(seq), false),
        Ok(Outcome::Forged) => (None, false),
        Ok(Outcome::Refused(message)) => {
            report::error(&format!("dbaudit_log refused a call from a trigger: {message}"));
            (None, true)
        }
        Ok(Outcome::Failed(message)) => {
            report::error(&message);
            (None, true)
        }
        Err(_) => (None, true),
    };
    // SAFETY: mysqld passes valid is_null and error flags.
    unsafe {
        *is_null = u8::from(value.is_none());
        if failed {
            *error = 1;
        }
    }
    value.map_or(0, |seq| c_longlong::try_from(seq).unwrap_or(c_longlong::MAX))
}

/// `dbaudit_log` deinit: nothing to free; the state is process-wide.
#[no_mangle]
pub(crate) extern "C" fn dbaudit_log_deinit(_initid: *mut UdfInit) {}

/// `dbaudit_version` init.
///
/// # Safety
/// Called by mysqld with valid pointers.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_version_init(
    initid: *mut UdfInit,
    args: *mut UdfArgs,
    message: *mut c_char,
) -> bool {
    // SAFETY: mysqld's pointers, passed on as it gave them.
    unsafe { init_without_arguments(initid, args, message, "dbaudit_version", crate::VERSION.len()) }
}

/// The init of a function that takes no arguments and never returns NULL: refuses
/// arguments and sets the longest result. Returns init's result (true: refused).
///
/// # Safety
/// The pointers must be those mysqld passed to an init.
unsafe fn init_without_arguments(
    initid: *mut UdfInit,
    args: *mut UdfArgs,
    message: *mut c_char,
    name: &str,
    max_length: usize,
) -> bool {
    // SAFETY: mysqld passes valid UDF_INIT and UDF_ARGS and a MESSAGE_SIZE buffer.
    unsafe {
        if (*args).arg_count != 0 {
            set_message(message, &format!("{name} takes no arguments"));
            return true;
        }
        (*initid).maybe_null = false;
        (*initid).max_length = max_length as c_ulong;
    }
    false
}

/// `dbaudit_version`: the build's name, in mysqld's 255-byte result buffer.
///
/// # Safety
/// Called by mysqld with valid pointers; `result` holds 255 bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_version(
    _initid: *mut UdfInit,
    _args: *mut UdfArgs,
    result: *mut c_char,
    length: *mut c_ulong,
    _is_null: *mut u8,
    _error: *mut u8,
) -> *mut c_char {
    let text = crate::VERSION.as_bytes();
    let len = text.len().min(255);
    // SAFETY: mysqld's result buffer holds 255 bytes; we write at most that many.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), result.cast::<u8>(), len);
        *length = len as c_ulong;
    }
    result
}

/// `dbaudit_health` init: the result outgrows mysqld's 255-byte buffer, so it lives in a
/// vector of ours behind `ptr`, freed in deinit.
///
/// # Safety
/// Called by mysqld with valid pointers.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_health_init(
    initid: *mut UdfInit,
    args: *mut UdfArgs,
    message: *mut c_char,
) -> bool {
    // SAFETY: mysqld's pointers, passed on as it gave them.
    if unsafe { init_without_arguments(initid, args, message, "dbaudit_health", 4096) } {
        return true;
    }
    // SAFETY: mysqld passes a valid UDF_INIT; deinit frees what ptr holds.
    unsafe {
        (*initid).const_item = false;
        (*initid).ptr = Box::into_raw(Box::new(Vec::<u8>::new())).cast::<c_char>();
    }
    false
}

/// `dbaudit_health`: one JSON object on this process's audit stream (see `Auditor::health`).
///
/// # Safety
/// Called by mysqld with valid pointers, after `dbaudit_health_init` succeeded.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_health(
    initid: *mut UdfInit,
    _args: *mut UdfArgs,
    _result: *mut c_char,
    length: *mut c_ulong,
    is_null: *mut u8,
    error: *mut u8,
) -> *mut c_char {
    let health = catch_unwind(|| AUDITOR.health());
    // SAFETY: init put a Box<Vec<u8>> behind ptr, which lives until deinit; the flags are valid.
    unsafe {
        let Ok(health) = health else {
            *is_null = 1;
            *error = 1;
            return std::ptr::null_mut();
        };
        let buffer = &mut *(*initid).ptr.cast::<Vec<u8>>();
        *buffer = health;
        *length = buffer.len() as c_ulong;
        buffer.as_mut_ptr().cast::<c_char>()
    }
}

/// `dbaudit_health` deinit: frees the result's vector.
///
/// # Safety
/// Called by mysqld once per successful init, with the same `initid`.
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_health_deinit(initid: *mut UdfInit) {
    // SAFETY: ptr is the Box<Vec<u8>> init made (or null), and deinit runs once.
    unsafe {
        let ptr = (*initid).ptr.cast::<Vec<u8>>();
        if !ptr.is_null() {
            drop(Box::from_raw(ptr));
            (*initid).ptr = std::ptr::null_mut();
        }
    }
}

/// `dbaudit_test_panic` init (test builds only).
///
/// # Safety
/// Called by mysqld with valid pointers.
#[cfg(feature = "test-panic")]
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_test_panic_init(
    _initid: *mut UdfInit,
    _args: *mut UdfArgs,
    _message: *mut c_char,
) -> bool {
    report::install_panic_hook();
    false
}

/// `dbaudit_test_panic`: panics inside the UDF, to prove the panic stops at the ABI.
///
/// # Safety
/// Called by mysqld with valid pointers.
#[cfg(feature = "test-panic")]
#[no_mangle]
pub(crate) unsafe extern "C" fn dbaudit_test_panic(
    _initid: *mut UdfInit,
    _args: *mut UdfArgs,
    is_null: *mut u8,
    error: *mut u8,
) -> c_longlong {
    let outcome = catch_unwind(|| -> c_longlong { panic!("dbaudit_test_panic was called") });
    // SAFETY: mysqld passes valid flags.
    unsafe {
        *is_null = 1;
        *error = u8::from(outcome.is_err());
    }
    0
}
