// The Python module `amp_C` with Apex's NovoGrad kernel only: what
// apex/optimizers/fused_novograd.py calls (amp_C.multi_tensor_novograd). The kernel
// itself, multi_tensor_novograd_cuda, is compiled from the exported Apex sources
// (csrc/multi_tensor_novograd.cu and the per-tensor norms it calls in
// csrc/multi_tensor_l2norm_kernel.cu); see scripts/apex/build.py.
#include <torch/extension.h>

#include <vector>

void multi_tensor_novograd_cuda(int chunk_size, at::Tensor noop_flag,
                                std::vector<std::vector<at::Tensor>> tensor_lists,
                                at::Tensor grad_norms, const float lr, const float beta1,
                                const float beta2, const float epsilon, const int step,
                                const int bias_correction, const float weight_decay,
                                const int grad_averaging, const int mode, const int norm_type);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("multi_tensor_novograd", &multi_tensor_novograd_cuda,
        "one NovoGrad step over lists of gradients, parameters and first moments");
}
