//! The kernels of [`crate::gpu`] on a WebGPU device, through web-sys.
//!
//! Acquiring a device ([`Device::request`], or the page's shared one from [`page_device`]) is
//! separate from running work on it ([`Device::score`], [`Device::adapt`], …), so tests drive a
//! device of their own. Every run is one submission: uploads with `writeBuffer`, the dispatches of
//! one compute pass, a copy into a staging buffer, and one asynchronous readback. Buffers live in
//! per-role slots that only grow, so repeated calls allocate nothing. Each run is wrapped in
//! validation, out-of-memory and internal error scopes; any error, a lost device or a failed
//! readback comes back as [`Failure::Broken`] with the browser's message.
//!
//! This file holds the device, its buffer slots and the submission ([`Device::run`]); what each
//! job encodes, and the result set it reads ([`Candidates`]), are in `device/jobs.rs`.

use crate::error::msg;
use js_sys::{Float32Array, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    gpu_buffer_usage as usage, gpu_map_mode, Gpu, GpuAutoLayoutMode, GpuBindGroupDescriptor, GpuBindGroupEntry,
    GpuBuffer, GpuBufferBinding, GpuBufferDescriptor, GpuCommandEncoder, GpuComputePassEncoder, GpuComputePipeline,
    GpuComputePipelineDescriptor, GpuDevice, GpuErrorFilter, GpuProgrammableStage, GpuQueue, GpuShaderModuleDescriptor,
};

/// Why a GPU run produced no result.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// Another run holds the device: this call goes to the CPU; nothing is wrong.
    Busy,
    /// The input exceeds the device's limits: this call goes to the CPU; smaller ones may still run.
    TooLarge(String),
    /// The device failed (lost, validation, out of memory, readback): WebGPU is done on this page.
    Broken(String),
}

impl Failure {
    pub fn reason(&self) -> String {
        match self {
            Failure::Busy => "WebGPU is busy with another call".into(),
            Failure::TooLarge(r) | Failure::Broken(r) => r.clone(),
        }
    }
}

type Run<T> = Result<T, Failure>;

mod jobs;
pub use jobs::{Candidates, Session};

/// Buffer roles. Each slot holds one buffer that is replaced by a larger one when needed.
#[derive(Clone, Copy)]
enum Slot {
    Theta,
    Theta0,
    Alpha,
    X,
    S,
    Base,
    ListContext,
    Columns,
    OwnRows,
    Items,
    Scores,
    Hidden,
    Inputs,
    SupportBase,
    SupportScores,
    Pairs,
    Groups,
    DScore,
    Grad,
    Staging,
    SessionUniform,
    ScoreUniform,
    SupportUniform,
    LossUniform,
    GradUniform,
    StepUniform,
}
const SLOTS: usize = Slot::StepUniform as usize + 1;

impl Slot {
    fn usage(self) -> u32 {
        match self {
            Slot::Staging => usage::MAP_READ | usage::COPY_DST,
            Slot::SessionUniform
            | Slot::ScoreUniform
            | Slot::SupportUniform
            | Slot::LossUniform
            | Slot::GradUniform
            | Slot::StepUniform => usage::UNIFORM | usage::COPY_DST,
            _ => usage::STORAGE | usage::COPY_DST | usage::COPY_SRC,
        }
    }
}

/// A device with the five kernels compiled.
pub struct Device {
    device: GpuDevice,
    queue: GpuQueue,
    features: GpuComputePipeline,
    score: GpuComputePipeline,
    loss: GpuComputePipeline,
    grad: GpuComputePipeline,
    update: GpuComputePipeline,
    max_binding: f64,
    slots: RefCell<Vec<Option<(GpuBuffer, usize)>>>,
    /// What each slot holds, where its contents have a key ([`Device::upload_keyed`]).
    keys: RefCell<Vec<Option<u64>>>,
    /// Bytes written to the device so far (for tests and benchmarks).
    uploaded: Cell<f64>,
    busy: Cell<bool>,
    /// Set when the browser reports the device lost.
    lost: Rc<RefCell<Option<String>>>,
}

/// `f32`s as the bytes WebGPU copies (wasm is little-endian).
fn bytes(v: &[f32]) -> &[u8] {
    // SAFETY: any initialised f32 is 4 valid bytes; u8 has alignment 1 and the length covers
    // exactly the slice's memory, which stays borrowed for the returned lifetime.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The message of a JS error value.
pub fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| msg!("a thrown ", e.js_typeof().as_string().unwrap_or_default()))
}

/// `navigator.gpu`, in a window or a worker, without assuming either exists.
fn navigator_gpu() -> Option<Gpu> {
    let nav = Reflect::get(&js_sys::global(), &"navigator".into()).ok().filter(|v| v.is_object())?;
    let gpu = Reflect::get(&nav, &"gpu".into()).ok().filter(|v| v.is_object())?;
    Some(gpu.unchecked_into())
}

const SCOPES: [GpuErrorFilter; 3] = [GpuErrorFilter::Validation, GpuErrorFilter::OutOfMemory, GpuErrorFilter::Internal];

/// Pops the three error scopes (always all three, so the stack stays balanced) and returns the
/// first error they caught.
async fn pop_scopes(device: &GpuDevice) -> Option<String> {
    let pops: Vec<_> = SCOPES.iter().map(|_| device.pop_error_scope()).collect();
    let mut first = None;
    for p in pops {
        let found = match p.await {
            Ok(e) => e.into_option().map(|e| e.message()),
            Err(e) => Some(msg!("popErrorScope failed: ", js_message(&e))),
        };
        if first.is_none() {
            first = found;
        }
    }
    first
}

fn push_scopes(device: &GpuDevice) {
    for f in SCOPES {
        device.push_error_scope(f);
    }
}

fn pipeline(device: &GpuDevice, code: &str, label: &str) -> GpuComputePipeline {
    let desc = GpuShaderModuleDescriptor::new(code);
    desc.set_label(label);
    let stage = GpuProgrammableStage::new(&device.create_shader_module(&desc));
    stage.set_entry_point("main");
    device.create_compute_pipeline(&GpuComputePipelineDescriptor::new_with_gpu_auto_layout_mode(
        GpuAutoLayoutMode::Auto,
        &stage,
    ))
}

/// Releases the busy flag when a run ends, however it ends.
struct Claim<'a>(&'a Cell<bool>);
impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Device {
    /// Asks the browser for an adapter and a device and compiles the kernels. The error says why
    /// WebGPU cannot be used (no `navigator.gpu`, no adapter, a failed compile).
    pub async fn request() -> Result<Device, String> {
        let gpu =
            navigator_gpu().ok_or("navigator.gpu is missing (no WebGPU in this browser, or not a secure context)")?;
        let adapter = gpu
            .request_adapter()
            .await
            .map_err(|e| msg!("requestAdapter() failed: ", js_message(&e)))?
            .into_option()
            .ok_or("requestAdapter() found no WebGPU adapter")?;
        let device = adapter.request_device().await.map_err(|e| msg!("requestDevice() failed: ", js_message(&e)))?;
        push_scopes(&device);
        // Only the shipped text is referenced, so the commented source stays out of the wasm.
        let features = pipeline(&device, super::FEATURES.shipped, super::FEATURES.file);
        let score = pipeline(&device, super::SCORE.shipped, super::SCORE.file);
        let loss = pipeline(&device, super::LOSS_GRAD.shipped, super::LOSS_GRAD.file);
        let grad = pipeline(&device, super::GRAD.shipped, super::GRAD.file);
        let update = pipeline(&device, super::UPDATE.shipped, super::UPDATE.file);
        if let Some(e) = pop_scopes(&device).await {
            return Err(msg!("compiling the WebGPU kernels failed: ", e));
        }
        let lost = Rc::new(RefCell::new(None));
        let (flag, watched) = (lost.clone(), device.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(info) = watched.lost().await {
                *flag.borrow_mut() = Some(msg!("the WebGPU device was lost: ", info.message()));
            }
        });
        Ok(Device {
            queue: device.queue(),
            max_binding: device.limits().max_storage_buffer_binding_size(),
            device,
            features,
            score,
            loss,
            grad,
            update,
            slots: RefCell::new(vec![None; SLOTS]),
            keys: RefCell::new(vec![None; SLOTS]),
            uploaded: Cell::new(0.0),
            busy: Cell::new(false),
            lost,
        })
    }

    /// Destroys the device (what a lost device looks like to fewclick): for tests.
    pub fn destroy(&self) {
        self.device.destroy();
    }

    /// Why the device is gone, once the browser has said so.
    pub fn lost(&self) -> Option<String> {
        self.lost.borrow().clone()
    }

    /// The slot's buffer, at least `len` bytes (16 at least: no binding may be empty).
    fn buffer(&self, slot: Slot, len: usize) -> Run<GpuBuffer> {
        let len = len.max(16).next_multiple_of(4);
        if slot.usage() & usage::STORAGE != 0 && len as f64 > self.max_binding {
            return Err(Failure::TooLarge(msg!(
                "a ",
                len,
                "-byte buffer exceeds this device's maxStorageBufferBindingSize (",
                self.max_binding as u64,
                ")"
            )));
        }
        let mut slots = self.slots.borrow_mut();
        if let Some((buf, cap)) = &slots[slot as usize] {
            if *cap >= len {
                return Ok(buf.clone());
            }
            buf.destroy();
        }
        // Grow with headroom so a slowly growing input does not reallocate every call.
        let cap = if slot.usage() & usage::UNIFORM != 0 { len } else { (len + len / 4).next_multiple_of(4) };
        let buf = self
            .device
            .create_buffer(&GpuBufferDescriptor::new_with_f64(cap as f64, slot.usage()))
            .map_err(|e| Failure::Broken(msg!("createBuffer failed: ", js_message(&e))))?;
        slots[slot as usize] = Some((buf.clone(), cap));
        Ok(buf)
    }

    /// The slot's buffer holding `data`.
    fn upload(&self, slot: Slot, data: &[u8]) -> Run<GpuBuffer> {
        self.keys.borrow_mut()[slot as usize] = None;
        let buf = self.buffer(slot, data.len())?;
        if !data.is_empty() {
            self.queue
                .write_buffer_with_u32_and_u8_slice(&buf, 0, data)
                .map_err(|e| Failure::Broken(msg!("writeBuffer failed: ", js_message(&e))))?;
            self.uploaded.set(self.uploaded.get() + data.len() as f64);
        }
        Ok(buf)
    }

    /// The slot's buffer holding `data`, whose contents `key` identifies: when the slot already
    /// holds that key, nothing is written. `None` always writes.
    fn upload_keyed(&self, slot: Slot, key: Option<u64>, data: &[u8]) -> Run<GpuBuffer> {
        let i = slot as usize;
        if key.is_some() && self.keys.borrow()[i] == key {
            if let Some((buf, _)) = &self.slots.borrow()[i] {
                return Ok(buf.clone());
            }
        }
        let buf = self.upload(slot, data)?;
        self.keys.borrow_mut()[i] = key;
        Ok(buf)
    }

    /// Bytes written to the device by every run so far.
    pub fn bytes_uploaded(&self) -> f64 {
        self.uploaded.get()
    }

    /// One dispatch of `kernel` with `buffers` at bindings 0, 1, ….
    fn dispatch(&self, pass: &GpuComputePassEncoder, kernel: &GpuComputePipeline, buffers: &[&GpuBuffer], groups: u32) {
        let entries: Vec<GpuBindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| GpuBindGroupEntry::new_with_gpu_buffer_binding(i as u32, &GpuBufferBinding::new(b)))
            .collect();
        let group =
            self.device.create_bind_group(&GpuBindGroupDescriptor::new(&entries, &kernel.get_bind_group_layout(0)));
        pass.set_pipeline(kernel);
        pass.set_bind_group(0, Some(&group));
        pass.dispatch_workgroups(groups);
    }

    /// Runs one submission and reads back the buffers `encode` returns, each with the number of
    /// floats to read, concatenated. `encode` uploads inputs and records the compute pass; all
    /// results are copied into one staging buffer, so the readback is the run's only await on
    /// the GPU.
    async fn run(&self, encode: impl FnOnce(&GpuCommandEncoder) -> Run<Vec<(GpuBuffer, usize)>>) -> Run<Vec<f32>> {
        if self.busy.replace(true) {
            return Err(Failure::Busy);
        }
        let _claim = Claim(&self.busy);
        if let Some(reason) = self.lost() {
            return Err(Failure::Broken(reason));
        }
        push_scopes(&self.device);
        let encoder = self.device.create_command_encoder();
        let encoded = encode(&encoder).and_then(|results| {
            let len: usize = results.iter().map(|r| r.1 * 4).sum();
            let staging = self.buffer(Slot::Staging, len)?;
            let mut at = 0;
            for (buffer, floats) in &results {
                encoder
                    .copy_buffer_to_buffer_with_u32_and_u32_and_u32(buffer, 0, &staging, at, (floats * 4) as u32)
                    .map_err(|e| Failure::Broken(msg!("copyBufferToBuffer failed: ", js_message(&e))))?;
                at += (floats * 4) as u32;
            }
            self.queue.submit(&[encoder.finish()]);
            Ok((staging, at))
        });
        let mapped = encoded
            .as_ref()
            .ok()
            .map(|(staging, len)| staging.map_async_with_u32_and_u32(gpu_map_mode::READ, 0, (*len).max(4)));
        let scoped = pop_scopes(&self.device).await;
        let mapped = match mapped {
            Some(m) => m.await.map(|_| ()).map_err(|e| js_message(&e)),
            None => Ok(()),
        };
        let (staging, len) = encoded?;
        if let Some(e) = scoped {
            if mapped.is_ok() {
                staging.unmap();
            }
            return Err(Failure::Broken(msg!("WebGPU error: ", e)));
        }
        if let Err(e) = mapped {
            return Err(Failure::Broken(self.lost().unwrap_or_else(|| msg!("reading back from the GPU failed: ", e))));
        }
        let range = staging
            .get_mapped_range_with_u32_and_u32(0, len.max(4))
            .map_err(|e| Failure::Broken(msg!("getMappedRange failed: ", js_message(&e))));
        let out = range.map(|r| {
            let mut v = Float32Array::new(&r).to_vec();
            v.truncate(len as usize / 4);
            v
        });
        staging.unmap();
        out
    }
}

impl Device {
    /// Test hook: a dispatch without its bind group, which WebGPU rejects with a validation
    /// error; shows how such errors come back ([`Failure::Broken`] with the browser's message).
    #[doc(hidden)]
    pub async fn invalid_dispatch(&self) -> Run<Vec<f32>> {
        self.run(|enc| {
            let scores = self.buffer(Slot::Scores, 4)?;
            let pass = enc.begin_compute_pass();
            pass.set_pipeline(&self.score);
            pass.dispatch_workgroups(1);
            pass.end();
            Ok(vec![(scores, 1)])
        })
        .await
    }
}

/// The page's device: requested once, shared by every reranker of the page.
enum PageDevice {
    Unprobed,
    Probing,
    Ready(Rc<Device>),
    Failed(String),
}

thread_local! {
    static PAGE: RefCell<PageDevice> = const { RefCell::new(PageDevice::Unprobed) };
}

/// The page's device, requested on first use. `Busy` while another call is requesting it; the
/// reason WebGPU is unavailable, remembered, when the request failed.
pub async fn page_device() -> Run<Rc<Device>> {
    let start = PAGE.with(|p| match &*p.borrow() {
        PageDevice::Ready(d) => Some(Ok(d.clone())),
        PageDevice::Failed(r) => Some(Err(Failure::Broken(r.clone()))),
        PageDevice::Probing => Some(Err(Failure::Busy)),
        PageDevice::Unprobed => None,
    });
    if let Some(known) = start {
        return known;
    }
    PAGE.with(|p| *p.borrow_mut() = PageDevice::Probing);
    let requested = Device::request().await.map(Rc::new);
    PAGE.with(|p| {
        *p.borrow_mut() = match &requested {
            Ok(d) => PageDevice::Ready(d.clone()),
            Err(r) => PageDevice::Failed(r.clone()),
        }
    });
    requested.map_err(Failure::Broken)
}

/// Test hook: destroys the page's device, as if the browser had lost it. Returns whether there
/// was one.
pub fn destroy_page_device() -> bool {
    PAGE.with(|p| match &*p.borrow() {
        PageDevice::Ready(d) => {
            d.destroy();
            true
        }
        _ => false,
    })
}
