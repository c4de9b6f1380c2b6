//! The kernels of [`crate::gpu`] on a WebGPU device, through web-sys.
//!
//! Nothing here awaits. The page's JavaScript (the package's `gpu.js`) acquires a device and
//! awaits the promises a run hands back; the wasm carries no executor and no futures. A run is
//! two calls: [`Device::submit`]-backed jobs ([`Device::score`], [`Device::adapt`], …) upload
//! with `writeBuffer`, record the dispatches of one compute pass, copy the results into a
//! staging buffer, submit, and return a [`Pending`] whose [`Pending::promises`] (the three error
//! scopes' pops and the staging buffer's `mapAsync`) the caller awaits; [`Pending::finish`]
//! takes how they ended (the first error a scope caught, why the mapping failed) and reads the
//! results.
//! Buffers live in per-role slots that only grow, so repeated calls allocate nothing. Any error
//! a scope caught, a lost device or a failed readback comes back as [`Failure::Broken`] with the
//! browser's message.
//!
//! This file holds the device, its buffer slots and the submission; what each job encodes, and
//! the result set it reads ([`Candidates`]), are in `device/jobs.rs`.

use crate::error::msg;
use js_sys::{Array, Float32Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    gpu_buffer_usage as usage, gpu_map_mode, GpuAutoLayoutMode, GpuBindGroupDescriptor, GpuBindGroupEntry, GpuBuffer,
    GpuBufferBinding, GpuBufferDescriptor, GpuCommandEncoder, GpuComputePassEncoder, GpuComputePipeline,
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
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn reason(&self) -> String {
        match self {
            Failure::Busy => "WebGPU is busy with another call".into(),
            Failure::TooLarge(r) | Failure::Broken(r) => r.clone(),
        }
    }
}

type Run<T> = Result<T, Failure>;

mod jobs;
pub use jobs::{split_scores, Candidates, Session};

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
    #[cfg_attr(fewclick_ship, optimize(size))]
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
    /// Set when the browser reports the device lost ([`Device::mark_lost`]).
    lost: RefCell<Option<String>>,
}

/// `f32`s as the bytes WebGPU copies (wasm is little-endian).
#[cfg_attr(fewclick_ship, optimize(size))]
fn bytes(v: &[f32]) -> &[u8] {
    // SAFETY: any initialised f32 is 4 valid bytes; u8 has alignment 1 and the length covers
    // exactly the slice's memory, which stays borrowed for the returned lifetime.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The message of a JS error value.
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| msg!("a thrown ", e.js_typeof().as_string().unwrap_or_default()))
}

const SCOPES: [GpuErrorFilter; 3] = [GpuErrorFilter::Validation, GpuErrorFilter::OutOfMemory, GpuErrorFilter::Internal];

/// Pushes the three error scopes: what the calls until [`pop_scopes`] do wrong, they catch.
#[cfg_attr(fewclick_ship, optimize(size))]
fn push_scopes(device: &GpuDevice) {
    for f in SCOPES {
        device.push_error_scope(f);
    }
}

/// Pops the three error scopes (always all three, so the stack stays balanced) and returns the
/// promises of their pops.
#[cfg_attr(fewclick_ship, optimize(size))]
fn pop_scopes(device: &GpuDevice) -> Array {
    SCOPES.iter().map(|_| JsValue::from(device.pop_error_scope())).collect()
}

#[cfg_attr(fewclick_ship, optimize(size))]
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

impl Device {
    /// Compiles the kernels on `device` (a device the page acquired) and returns the promises
    /// of the error scopes around the compiles, which say whether they worked.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn new(device: GpuDevice) -> (Device, Array) {
        push_scopes(&device);
        // Only the shipped text is referenced, so the commented source stays out of the wasm.
        let features = pipeline(&device, super::FEATURES.shipped, super::FEATURES.file);
        let score = pipeline(&device, super::SCORE.shipped, super::SCORE.file);
        let loss = pipeline(&device, super::LOSS_GRAD.shipped, super::LOSS_GRAD.file);
        let grad = pipeline(&device, super::GRAD.shipped, super::GRAD.file);
        let update = pipeline(&device, super::UPDATE.shipped, super::UPDATE.file);
        let pops = pop_scopes(&device);
        let device = Device {
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
            lost: RefCell::new(None),
        };
        (device, pops)
    }

    /// Records that the browser reported the device lost (`device.lost` resolved): every later
    /// run fails with `reason`.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn mark_lost(&self, reason: String) {
        *self.lost.borrow_mut() = Some(reason);
    }

    /// Destroys the device (what a lost device looks like to fewclick): for tests.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn destroy(&self) {
        self.device.destroy();
    }

    /// Why the device is gone, once the browser has said so.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn lost(&self) -> Option<String> {
        self.lost.borrow().clone()
    }

    /// Makes the slot's buffer at least `len` bytes (16 at least: no binding may be empty).
    /// Jobs name buffers by slot ([`Device::dispatch`], their results), so an encoding holds no
    /// buffer of its own across its fallible steps.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn buffer(&self, slot: Slot, len: usize) -> Run<()> {
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
                return Ok(());
            }
            buf.destroy();
        }
        // Grow with headroom so a slowly growing input does not reallocate every call.
        let cap = if slot.usage() & usage::UNIFORM != 0 { len } else { (len + len / 4).next_multiple_of(4) };
        let buf = self
            .device
            .create_buffer(&GpuBufferDescriptor::new_with_f64(cap as f64, slot.usage()))
            .map_err(|e| Failure::Broken(msg!("createBuffer failed: ", js_message(&e))))?;
        slots[slot as usize] = Some((buf, cap));
        Ok(())
    }

    /// The slot's buffer (`None` only before a job sized it).
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn get(&self, slot: Slot) -> Option<GpuBuffer> {
        self.slots.borrow()[slot as usize].as_ref().map(|(buf, _)| buf.clone())
    }

    /// Makes the slot's buffer hold `data`.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn upload(&self, slot: Slot, data: &[u8]) -> Run<()> {
        self.keys.borrow_mut()[slot as usize] = None;
        self.buffer(slot, data.len())?;
        if let (false, Some(buf)) = (data.is_empty(), self.get(slot)) {
            self.queue
                .write_buffer_with_u32_and_u8_slice(&buf, 0, data)
                .map_err(|e| Failure::Broken(msg!("writeBuffer failed: ", js_message(&e))))?;
            self.uploaded.set(self.uploaded.get() + data.len() as f64);
        }
        Ok(())
    }

    /// Makes the slot's buffer hold `data`, whose contents `key` identifies: when the slot
    /// already holds that key, nothing is written. `None` always writes.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn upload_keyed(&self, slot: Slot, key: Option<u64>, data: &[u8]) -> Run<()> {
        let i = slot as usize;
        if key.is_some() && self.keys.borrow()[i] == key && self.slots.borrow()[i].is_some() {
            return Ok(());
        }
        self.upload(slot, data)?;
        self.keys.borrow_mut()[i] = key;
        Ok(())
    }

    /// Bytes written to the device by every run so far.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn bytes_uploaded(&self) -> f64 {
        self.uploaded.get()
    }

    /// One dispatch of `kernel` with the buffers of `slots` at bindings 0, 1, …. (A slot no job
    /// sized yet, which cannot happen, is left out: WebGPU then rejects the bind group and the
    /// run's error scope reports it.)
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn dispatch(&self, pass: &GpuComputePassEncoder, kernel: &GpuComputePipeline, slots: &[Slot], groups: u32) {
        let entries: Vec<GpuBindGroupEntry> = (0..)
            .zip(slots)
            .filter_map(|(i, &slot)| {
                let buf = self.get(slot)?;
                Some(GpuBindGroupEntry::new_with_gpu_buffer_binding(i, &GpuBufferBinding::new(&buf)))
            })
            .collect();
        let group =
            self.device.create_bind_group(&GpuBindGroupDescriptor::new(&entries, &kernel.get_bind_group_layout(0)));
        pass.set_pipeline(kernel);
        pass.set_bind_group(0, Some(&group));
        pass.dispatch_workgroups(groups);
    }

    /// Starts one submission that reads back the slots `encode` returns, each with the number
    /// of floats to read, concatenated: `encode` uploads inputs and records the compute pass,
    /// then the results are copied into one staging buffer, the commands submitted and the
    /// buffer mapped. The device is this run's until [`Device::finish`] (or the [`Pending`]
    /// is dropped): another run meanwhile is [`Failure::Busy`].
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn submit(self: &Rc<Self>, encode: impl FnOnce(&GpuCommandEncoder) -> Run<Vec<(Slot, usize)>>) -> Run<Pending> {
        if let Some(reason) = self.lost() {
            return Err(Failure::Broken(reason));
        }
        if self.busy.replace(true) {
            return Err(Failure::Busy);
        }
        push_scopes(&self.device);
        let encoder = self.device.create_command_encoder();
        let encoded = encode(&encoder).and_then(|results| self.copy_and_submit(encoder, results));
        // Mapped inside the scopes too, so a mapping WebGPU rejects is one of their errors.
        let mapped = encoded
            .as_ref()
            .ok()
            .map(|(staging, len)| staging.map_async_with_u32_and_u32(gpu_map_mode::READ, 0, (*len).max(4)));
        let promises = pop_scopes(&self.device);
        if let Some(mapped) = mapped {
            promises.push(&mapped);
        }
        Ok(Pending { device: self.clone(), encoded, promises, done: false })
    }

    /// Copies the results into the staging buffer and submits; returns it and the bytes to read.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn copy_and_submit(&self, encoder: GpuCommandEncoder, results: Vec<(Slot, usize)>) -> Run<(GpuBuffer, u32)> {
        let len: usize = results.iter().map(|r| r.1 * 4).sum();
        self.buffer(Slot::Staging, len)?;
        let unsized_slot = || Failure::Broken("internal: a result slot without a buffer".into());
        let staging = self.get(Slot::Staging).ok_or_else(unsized_slot)?;
        let mut at = 0;
        for &(slot, floats) in &results {
            let buffer = self.get(slot).ok_or_else(unsized_slot)?;
            encoder
                .copy_buffer_to_buffer_with_u32_and_u32_and_u32(&buffer, 0, &staging, at, (floats * 4) as u32)
                .map_err(|e| Failure::Broken(msg!("copyBufferToBuffer failed: ", js_message(&e))))?;
            at += (floats * 4) as u32;
        }
        self.queue.submit(&[encoder.finish()]);
        Ok((staging, at))
    }
}

/// A submitted run: await [`Pending::promises`], then tell [`Pending::finish`] how they ended. Dropped unfinished (a caller that gave up), it frees the
/// device for the next run and leaves its staging buffer, which may still be mapping, behind.
pub struct Pending {
    device: Rc<Device>,
    encoded: Run<(GpuBuffer, u32)>,
    promises: Array,
    done: bool,
}

impl Pending {
    /// The three error scopes' pops, then (when the commands were submitted) the staging
    /// buffer's `mapAsync`.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn promises(&self) -> Array {
        self.promises.clone()
    }

    /// The run's floats, once [`Pending::promises`] have settled, given how: `scope_error`, the
    /// first error the error scopes caught (a pop that rejected is such an error too), and
    /// `map_error`, why the mapping failed. Either, or a lost device, is [`Failure::Broken`]; an
    /// encoding failure comes back as it was. (The package's gpu.js reads the settled promises;
    /// the wasm takes the two messages.)
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn finish(mut self, scope_error: Option<String>, map_error: Option<String>) -> Run<Vec<f32>> {
        self.done = true;
        self.device.busy.set(false);
        let (staging, len) = std::mem::replace(&mut self.encoded, Err(Failure::Busy))?;
        if let Some(e) = scope_error {
            if map_error.is_none() {
                staging.unmap();
            }
            return Err(Failure::Broken(msg!("WebGPU error: ", e)));
        }
        if let Some(e) = map_error {
            let lost = self.device.lost();
            return Err(Failure::Broken(lost.unwrap_or_else(|| msg!("reading back from the GPU failed: ", e))));
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

impl Drop for Pending {
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn drop(&mut self) {
        if !self.done {
            self.device.busy.set(false);
            // Its mapping may still be pending: the next run gets a staging buffer of its own.
            self.device.slots.borrow_mut()[Slot::Staging as usize] = None;
        }
    }
}

impl Device {
    /// Test hook: a dispatch without its bind group, which WebGPU rejects with a validation
    /// error; shows how such errors come back ([`Failure::Broken`] with the browser's message).
    #[doc(hidden)]
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn invalid_dispatch(self: &Rc<Self>) -> Run<Pending> {
        self.submit(|enc| {
            self.buffer(Slot::Scores, 4)?;
            let pass = enc.begin_compute_pass();
            pass.set_pipeline(&self.score);
            pass.dispatch_workgroups(1);
            pass.end();
            Ok(vec![(Slot::Scores, 1)])
        })
    }
}

/// The page's device: acquired by the page's JavaScript (the package's `gpu.js`) the first time
/// a call wants it, and shared by every reranker of the page.
enum PageDevice {
    Unprobed,
    Ready(Rc<Device>),
    Failed(String),
}

thread_local! {
    static PAGE: RefCell<PageDevice> = const { RefCell::new(PageDevice::Unprobed) };
}

/// The page's device; `None` while the page has not acquired one yet (nor failed to).
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn page_device() -> Option<Run<Rc<Device>>> {
    PAGE.with(|p| match &*p.borrow() {
        PageDevice::Ready(d) => Some(Ok(d.clone())),
        PageDevice::Failed(r) => Some(Err(Failure::Broken(r.clone()))),
        PageDevice::Unprobed => None,
    })
}

/// Makes `device` the page's and compiles the kernels on it; returns the promises of the error
/// scopes around the compiles: the first error they catch goes to [`page_device_compiled`].
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn attach_page_device(device: GpuDevice) -> Array {
    let (device, pops) = Device::new(device);
    PAGE.with(|p| *p.borrow_mut() = PageDevice::Ready(Rc::new(device)));
    pops
}

/// Takes the first error the scopes around the compiles caught, if any: it rules WebGPU out.
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn page_device_compiled(scope_error: Option<String>) {
    if let Some(e) = scope_error {
        page_device_failed(msg!("compiling the WebGPU kernels failed: ", e));
    }
}

/// WebGPU cannot be used on this page, for `reason` (no `navigator.gpu`, no adapter, a failed
/// device request or compile): every later call that wants it ranks on the CPU and says why.
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn page_device_failed(reason: String) {
    PAGE.with(|p| *p.borrow_mut() = PageDevice::Failed(reason));
}

/// The browser reported the page's device lost (`device.lost` resolved with `message`).
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn page_device_lost(message: &str) {
    PAGE.with(|p| {
        if let PageDevice::Ready(d) = &*p.borrow() {
            d.mark_lost(msg!("the WebGPU device was lost: ", message));
        }
    })
}

/// Test hook: destroys the page's device, as if the browser had lost it. Returns whether there
/// was one.
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn destroy_page_device() -> bool {
    PAGE.with(|p| match &*p.borrow() {
        PageDevice::Ready(d) => {
            d.destroy();
            true
        }
        _ => false,
    })
}
