test_that("per-class accuracy: Wilson intervals and prop.test without correction", {
  correct <- c(rep(1, 40), rep(0, 10), rep(1, 25), rep(0, 25))
  y <- rep(c("a", "b"), each = 50)
  r <- per_class_accuracy(correct, y)
  expect_equal(r$table$accuracy, c(0.8, 0.5))
  expect_equal(r$statistic, unname(suppressWarnings(prop.test(c(40, 25), c(50, 50), correct = FALSE))$statistic))
  expect_equal(r$table$low[1], accuracy_interval(correct[1:50])$low)
  expect_error(per_class_accuracy(correct, y[-1]), "paired")
})
