// RUN: gs-opt %s -split-input-file -verify-diagnostics -gs-stabilize-gradients="grad-names=w.grad"

// Errors name the gradient; the pass analyzes every function before it
// rewrites any, so a failing module is left as it was.

// expected-error @below {{grad-names: no function argument is named 'w.grad'}}
module {
  func.func @absent(%p: tensor<4xf32>, %g: tensor<4xf32>) -> tensor<4xf32> {
    %u = arith.subf %p, %g : tensor<4xf32>
    return %u : tensor<4xf32>
  }
}

// -----

// A named value that no parameter update reads is not a gradient.
func.func @not_a_gradient(%p: tensor<4xf32>,
    // expected-error @below {{gradient 'w.grad' (argument #1 of @not_a_gradient) cannot be stabilized: it is not a gradient}}
    %g: tensor<4xf32> {gs.name = "w.grad"}) -> (tensor<4xf32>, tensor<4xf32>) {
  %two = arith.constant dense<2.0> : tensor<4xf32>
  %d = arith.mulf %g, %two : tensor<4xf32>
  return %p, %d : tensor<4xf32>, tensor<4xf32>
}

// -----

// One gradient feeding two parameters' updates cannot be rewired for one.
func.func @shared(%p: tensor<4xf32>, %q: tensor<4xf32>,
    // expected-error @below {{gradient 'w.grad' (argument #2 of @shared) cannot be stabilized: it feeds the updates of results #0 and #1}}
    %g: tensor<4xf32> {gs.name = "w.grad"}) -> (tensor<4xf32>, tensor<4xf32>) {
  %lr = arith.constant dense<0.1> : tensor<4xf32>
  %u = arith.mulf %lr, %g : tensor<4xf32>
  %pn = arith.subf %p, %u : tensor<4xf32>
  %qn = arith.subf %q, %u : tensor<4xf32>
  return %pn, %qn : tensor<4xf32>, tensor<4xf32>
}

// -----

// The signature of a function with callers cannot grow.
func.func @callee(%p: tensor<4xf32>,
    // expected-error @below {{cannot be stabilized: the function has uses, so its signature cannot change}}
    %g: tensor<4xf32> {gs.name = "w.grad"}) -> tensor<4xf32> {
  %u = arith.subf %p, %g : tensor<4xf32>
  return %u : tensor<4xf32>
}
func.func @caller(%p: tensor<4xf32>, %g: tensor<4xf32>) -> tensor<4xf32> {
  %r = func.call @callee(%p, %g) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// An error in one function leaves the other, fine one, untouched too.
func.func @fine(%p: tensor<4xf32>, %g: tensor<4xf32> {gs.name = "w.grad"}) -> tensor<4xf32> {
  %u = arith.subf %p, %g : tensor<4xf32>
  return %u : tensor<4xf32>
}
func.func @bad(%p: tensor<4xf32>,
    // expected-error @below {{gradient 'w.grad' (argument #1 of @bad) cannot be stabilized: it is not a gradient}}
    %g: tensor<4xf32> {gs.name = "w.grad"}) -> tensor<4xf32> {
  return %g : tensor<4xf32>
}
