#![no_std]
#![no_main]
#[link_section = ".dep-v0"]
#[used]
static AUDITABLE_VERSION_INFO: [u8; include_bytes!("dep.z").len()] = *include_bytes!("dep.z");
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
#[no_mangle]
pub extern "C" fn _start() -> ! { loop {} }
