# saveRDS()/readRDS() of a model fitted from R: the Python estimator travels as
# robustsk.io's safe format (a raw vector inside the rsk_model, no pickle).
# Needs reticulate and a Python with robustsk, else skips. Runs: ~5 s on one core.

test_that("an rsk_model survives saveRDS/readRDS with identical predictions", {
  skip_if_not_installed("reticulate")
  skip_if_not(rsk_python_available(), "no Python with robustsk for reticulate")
  rsk_set_threads(1)
  d <- rsk_load_digits(n_class = 3)
  y <- factor(c("zero", "one", "two")[d$label + 1], levels = c("zero", "one", "two"))
  model <- rsk_fit("StandardTraining", d[1:150, 1:64], y[1:150], image_shape = c(1, 8, 8),
                   max_epochs = 2, lr = 0.01, random_state = 0, module__channels = c(4L, 4L),
                   module__hidden_units = 8L)
  expect_type(model$saved, "raw")
  expect_identical(rawToChar(model$saved[1:14]), "robustsk-model")
  new <- d[151:190, 1:64]
  prob <- rsk_predict(model, new, type = "prob")
  pred <- rsk_predict(model, new)

  file <- tempfile(fileext = ".rds")
  saveRDS(model, file)
  back <- readRDS(file)
  # the deserialized pointer is NULL: the estimator is rebuilt from the saved bytes
  expect_true(reticulate::py_is_null_xptr(back$py))
  expect_identical(rsk_predict(back, new, type = "prob"), prob)
  expect_identical(rsk_predict(back, new), pred)
  expect_false(reticulate::py_is_null_xptr(back$cache$py))  # rebuilt once, then cached
  expect_output(print(back), "StandardTraining fitted from R: 3 classes")

  # a changed byte is refused with robustsk's message, not a crash
  bad <- back
  bad$cache <- new.env()
  bad$saved[length(bad$saved) - 5L] <- as.raw(bitwXor(as.integer(bad$saved[length(bad$saved) - 5L]), 1L))
  expect_error(rsk_predict(bad, new), "SHA-256 does not match")
  bad$saved <- NULL
  expect_error(rsk_predict(bad, new), "fit it again with rsk_fit")
})
